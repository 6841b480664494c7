# Generated from the _async folder by scripts/unasync.py: edit that source, then run it.
"""The S3 blob store in one flavour: ``scripts/unasync.py`` writes the sync folder from the async one."""
