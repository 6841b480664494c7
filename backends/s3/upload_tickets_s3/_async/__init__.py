"""The S3 blob store in one flavour: ``scripts/unasync.py`` writes the sync folder from the async one."""
