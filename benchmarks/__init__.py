"""Benchmarks, run with `python -m benchmarks` (or `make bench`); one module per section."""
