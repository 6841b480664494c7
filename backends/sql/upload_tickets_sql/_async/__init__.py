"""The SQL backend, one flavour of it: see scripts/unasync.py for how the two are made."""
