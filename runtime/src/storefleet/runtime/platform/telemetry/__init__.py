"""Traces, request ids, logs and metrics: what a service tells about itself."""
