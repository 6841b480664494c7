"""upload-tickets plugged into a Litestar app (``./dev example litestar``)."""
