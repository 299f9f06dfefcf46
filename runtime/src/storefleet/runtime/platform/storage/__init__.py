"""Databases, caches and files: where a service keeps its state."""
