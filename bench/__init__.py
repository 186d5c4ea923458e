"""Benchmarks: every figure measured beside a baseline in the same run (see common)."""
