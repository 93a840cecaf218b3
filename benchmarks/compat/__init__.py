"""Compatibility probes (`python -m benchmarks.compat.jaxmd_compat`)."""
