"""Evaluation: metrics and the measurements that benchmarks share."""
