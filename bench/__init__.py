"""Benchmarks: standalone scripts that print figures (``uv run python bench/engine.py``)."""
