"""The `ltx-trainer` command line: a gRPC client of the two services (and their in-process host)."""
