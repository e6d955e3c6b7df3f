"""Benchmarks that print figures. Never timed assertions: machines here are noisy."""
