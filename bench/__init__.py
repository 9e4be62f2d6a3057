"""Benchmarks against a filled database (`python -m bench.views_bench --rows 10000`)."""
