# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.
"""The SQL backend, one flavour of it: see scripts/unasync.py for how the two are made."""
