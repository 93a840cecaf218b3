"""Subcommands spectrum / transport / rdf (filled in with the observables)."""
