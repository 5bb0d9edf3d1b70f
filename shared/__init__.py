"""Code both services and their clients share: API stubs, request rules, storage, logging, gRPC plumbing."""
