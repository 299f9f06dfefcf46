"""Calls between services: timeouts, retries with backoff and circuit breakers."""
