"""The training request: the spec's defaults and ranges, its rules, and the settings a job runs with."""
