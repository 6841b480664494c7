"""upload-tickets mounted in a Starlette app (``./dev example starlette``)."""
