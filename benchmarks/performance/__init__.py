"""Our code against its peers, side by side (`python -m benchmarks.performance.<script>`)."""
