"""OpenTelemetry traces, off unless an OTLP endpoint is configured (`--otlp-endpoint`).

A span per RPC on both services (shared.grpc_util.tracing_interceptors), the context carried to the
preprocessor in the call's metadata (traceparent), and kept with each training job so that its run, hours
later or on another replica, continues the trace of the CreateTrainingJob call that made it. Log lines
carry the current trace_id and span_id (shared.logs). The modules are imported by name (settings, setup,
context): the logging set-up needs only `context`, which loads no more than the OpenTelemetry API.
"""
