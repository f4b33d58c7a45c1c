"""Benchmark scripts for the scale harness (issue #9); see bench/README.md."""
