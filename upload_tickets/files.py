"""Filesystem blob store in both flavours: the embedded default for the local upload host."""

from upload_tickets._async.files import AsyncFileBlobStore
from upload_tickets._sync.files import FileBlobStore

__all__ = ["AsyncFileBlobStore", "FileBlobStore"]
