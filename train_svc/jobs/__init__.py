"""Training jobs: their records, event logs, the worker that runs them, and the queue."""
