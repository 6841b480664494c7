"""The async source of every I/O-bound module; ``upload_tickets._sync`` is generated from it.

Edit the files here, then run ``python scripts/unasync.py``: the test suite fails while
a generated file is stale. ``_primitives.py`` is hand-written in both folders.
"""
