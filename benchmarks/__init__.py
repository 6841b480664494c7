"""Throughput benchmarks, each next to a baseline measured in the same run."""
