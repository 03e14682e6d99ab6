"""Benchmarks that print figures (ratios measured side by side), not timed tests."""
