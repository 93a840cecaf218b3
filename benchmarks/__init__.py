"""Benchmarks and physics validations of spectrinv; see benchmarks/README.md."""
