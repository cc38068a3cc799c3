"""A built-in web of sample business sites on loopback, for `leadpipe demo`, the tests and the benchmarks."""

__all__ = ["sites", "web"]
