"""Developer tooling: the local stack of real servers that `make run` and the tests use."""
