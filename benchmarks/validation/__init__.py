"""Physics validations of the models and the engine (`python -m benchmarks.validation.<script>`)."""
