"""The service's side of data-parallel training: launching a job's workers, and their control stream."""
