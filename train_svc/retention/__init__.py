"""Retention and deletion of what jobs and generations leave on the storage (no gRPC here)."""
