"""Leak detection: a streaming, bounded-memory evaluator of profiles sampled over time."""
