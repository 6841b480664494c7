"""The default classifier: the bytes must be one complete image of the declared type.

Pillow reads the header and decodes the pixels, but it is not trusted to notice a file
that stops early: its PNG decoder accepts image data that ends after a few rows (a
150-byte file can claim 6000x6000 and be "decoded"). So, before anything is decoded:

- the dimensions from the header are checked against a pixel budget, so a small file
  that claims to be huge (a decompression bomb) is refused without being expanded;
- the file's own structure is walked, in bounded memory:

  - PNG: every chunk is read and its CRC checked, the IDAT data is inflated in small
    steps and must come to exactly the length the IHDR implies (rows of a filter byte
    plus packed pixels, per Adam7 pass when interlaced), in one complete zlib stream,
    followed by IEND;
  - JPEG: the marker segments are walked to an EOI that follows at least one scan, so
    a file cut anywhere is refused. A scan cut short and then closed with an EOI still
    passes (libjpeg only warns about it): seeing that would mean decoding the scan;
  - WebP: the RIFF chunks must fit inside the file and hold image data (libwebp itself
    refuses image data cut short, even inside chunks resized to match).

Only then does the image take one of a bounded number of decode slots, so a burst of
large images cannot exhaust memory; a caller that cannot get a slot in time is told to
retry (``StoreUnavailable``, code ``decoder_busy``). Refused bytes never wait for a slot.

Trailing bytes after IEND, EOI or the RIFF end are allowed, as every decoder allows
them (phones append motion-photo video after a JPEG's EOI).
"""

from __future__ import annotations

import contextlib
import io
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from upload_tickets._async._primitives import offload
from upload_tickets._errors import StoreUnavailable, UnprocessableImage
from upload_tickets._models import Classification
from upload_tickets.protocols import Classifier, PoseDetector

_FORMAT_TO_TYPE = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# Small enough that a structure check holds a few hundred KiB at most, whatever the image.
_READ_STEP = 64 * 1024
_INFLATE_STEP = 256 * 1024


class UnknownPose:
    """The honest default: no pose model is installed, so the pose is ``unknown``."""

    def detect(self, image: object) -> str:
        """Always ``"unknown"``."""
        return "unknown"


class ImageClassifier:
    """Checks magic bytes, completeness and decodability, reads dimensions, asks a pose detector."""

    def __init__(
        self,
        pose_detector: PoseDetector | None = None,
        *,
        max_pixels: int = 40_000_000,
        max_concurrent_decodes: int = 2,
        decode_wait_s: float = 30.0,
    ) -> None:
        if max_concurrent_decodes < 1:
            raise ValueError(f"max_concurrent_decodes must be at least 1, got {max_concurrent_decodes}")
        if decode_wait_s < 0:
            raise ValueError(f"decode_wait_s cannot be negative, got {decode_wait_s}")
        self._pose_detector: PoseDetector = pose_detector or UnknownPose()
        self._max_pixels = max_pixels
        self._decode_slots = threading.BoundedSemaphore(max_concurrent_decodes)
        self._decode_wait_s = decode_wait_s

    def classify(self, stream: BinaryIO, declared_type: str) -> Classification:
        """Describe the image in ``stream``; ``UnprocessableImage`` if it is not a complete ``declared_type``."""
        from PIL import Image

        if not stream.seekable():
            stream = io.BytesIO(stream.read())
        with _refused_unless_readable(declared_type):
            with warnings.catch_warnings():
                # Our own pixel budget below replaces Pillow's bomb warning.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(stream, formats=tuple(_FORMAT_TO_TYPE))
            detected = _FORMAT_TO_TYPE.get(image.format or "")
            if detected != declared_type:
                raise UnprocessableImage(
                    f"the bytes are {detected or 'not an image'}, not {declared_type}",
                    code="image_type_mismatch",
                    param="upload_id",
                )
            width, height = image.size
            if width * height > self._max_pixels:
                raise UnprocessableImage(
                    f"image is {width}x{height}, over the {self._max_pixels} pixel budget",
                    code="image_too_large",
                    param="upload_id",
                )
            _check_complete(stream, detected)
        with self._decode_slot():
            try:
                with _refused_unless_readable(declared_type):
                    image.load()
                pose = self._pose_detector.detect(image)
            finally:
                # The pixels are freed before the slot is given back. Image.close, as
                # ImageFile.close would also close the caller's stream.
                Image.Image.close(image)
        return Classification(detected_type=detected, width=width, height=height, pose=pose)

    @contextlib.contextmanager
    def _decode_slot(self) -> Iterator[None]:
        if not self._decode_slots.acquire(timeout=self._decode_wait_s):
            raise StoreUnavailable("too many images are being decoded; retry", code="decoder_busy")
        try:
            yield
        finally:
            self._decode_slots.release()


class AsyncImageClassifier:
    """An :class:`ImageClassifier` (or any sync classifier) for the async facade: decodes run on a worker thread.

    Decoding a large image holds the CPU for tens of milliseconds; on the event loop it
    would stall every other request for that long.
    """

    def __init__(self, classifier: Classifier | None = None) -> None:
        self.classifier: Classifier = classifier or ImageClassifier()

    async def classify(self, stream: BinaryIO, declared_type: str) -> Classification:
        """:meth:`ImageClassifier.classify` on a worker thread."""
        return await offload(self.classifier.classify, stream, declared_type)


@contextlib.contextmanager
def _refused_unless_readable(declared_type: str) -> Iterator[None]:
    """Turn what Pillow and the structure checks raise about bad bytes into ``UnprocessableImage``."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except _Incomplete as exc:
        raise UnprocessableImage(
            f"the bytes are not a complete {declared_type} image: {exc}", param="upload_id"
        ) from exc
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fires in open() for images far past its default budget.
        raise UnprocessableImage(str(exc), code="image_too_large", param="upload_id") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise UnprocessableImage(f"the bytes are not a readable {declared_type} image", param="upload_id") from exc


class _Incomplete(Exception):
    """The file's structure shows it is cut short or damaged; the message says where."""


def _check_complete(stream: BinaryIO, media_type: str) -> None:
    """Walk the structure of the whole file; ``_Incomplete`` if it is not all there."""
    checks = {"image/png": _check_png, "image/jpeg": _check_jpeg, "image/webp": _check_webp}
    # Pillow keeps reading the same stream in load(), from offsets it seeks to itself;
    # restoring the position keeps that true whatever Pillow assumes.
    position = stream.tell()
    try:
        checks[media_type](_Reader(stream))
    finally:
        stream.seek(position)


class _Reader:
    """Exact reads over a seekable stream of known size, from its start."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.size = stream.seek(0, io.SEEK_END)
        stream.seek(0)

    def tell(self) -> int:
        return self.stream.tell()

    def read(self, count: int, what: str) -> bytes:
        data = self.stream.read(count)
        if len(data) != count:
            raise _Incomplete(f"the file ends inside {what}")
        return data

    def skip(self, count: int, what: str) -> None:
        if self.tell() + count > self.size:
            raise _Incomplete(f"the file ends inside {what}")
        self.stream.seek(count, io.SEEK_CUR)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Colour type -> (samples per pixel, allowed bit depths).
_PNG_COLOR_TYPES = {
    0: (1, (1, 2, 4, 8, 16)),
    2: (3, (8, 16)),
    3: (1, (1, 2, 4, 8)),
    4: (2, (8, 16)),
    6: (4, (8, 16)),
}
# Adam7 passes: (first column, first row, column step, row step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _check_png(reader: _Reader) -> None:
    if reader.read(8, "the PNG signature") != _PNG_SIGNATURE:
        raise _Incomplete("no PNG signature")
    inflater = _BoundedInflater(_png_inflated_size(_png_header(reader)))
    chunk_type = b""
    while chunk_type != b"IEND":
        length, chunk_type = struct.unpack(">I4s", reader.read(8, "a chunk header"))
        crc = zlib.crc32(chunk_type)
        # Read in pieces: an IDAT or a text chunk may be as large as the file.
        while length:
            piece = reader.read(min(length, _READ_STEP), f"chunk {chunk_type!r}")
            crc = zlib.crc32(piece, crc)
            if chunk_type == b"IDAT":
                inflater.feed(piece)
            length -= len(piece)
        _png_check_crc(reader, chunk_type, crc)
    inflater.finish()


def _png_header(reader: _Reader) -> bytes:
    """The body of the IHDR chunk, which must come first."""
    length, chunk_type = struct.unpack(">I4s", reader.read(8, "a chunk header"))
    if (length, chunk_type) != (13, b"IHDR"):
        raise _Incomplete("the first chunk is not a 13-byte IHDR")
    header = reader.read(13, "IHDR")
    _png_check_crc(reader, chunk_type, zlib.crc32(header, zlib.crc32(chunk_type)))
    return header


def _png_check_crc(reader: _Reader, chunk_type: bytes, crc: int) -> None:
    (stored,) = struct.unpack(">I", reader.read(4, f"the CRC of chunk {chunk_type!r}"))
    if stored != crc:
        raise _Incomplete(f"chunk {chunk_type!r} fails its CRC")


def _png_inflated_size(header: bytes) -> int:
    """The exact length of the inflated IDAT data that ``header`` (an IHDR body) implies."""
    width, height, bit_depth, color_type, compression, filtering, interlace = struct.unpack(">IIBBBBB", header)
    if color_type not in _PNG_COLOR_TYPES or bit_depth not in _PNG_COLOR_TYPES[color_type][1]:
        raise _Incomplete(f"IHDR has colour type {color_type} with bit depth {bit_depth}")
    if width == 0 or height == 0 or compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise _Incomplete("IHDR is invalid")
    bits_per_pixel = bit_depth * _PNG_COLOR_TYPES[color_type][0]
    if interlace == 0:
        return _png_pass_size(width, height, bits_per_pixel)
    total = 0
    for first_column, first_row, column_step, row_step in _ADAM7:
        pass_width = max(0, -(-(width - first_column) // column_step))
        pass_height = max(0, -(-(height - first_row) // row_step))
        if pass_width and pass_height:
            total += _png_pass_size(pass_width, pass_height, bits_per_pixel)
    return total


def _png_pass_size(width: int, height: int, bits_per_pixel: int) -> int:
    """Rows of one filter-type byte followed by the packed pixels."""
    return height * (1 + -(-(width * bits_per_pixel) // 8))


class _BoundedInflater:
    """Inflates a zlib stream piece by piece, counting but never keeping the output."""

    def __init__(self, expected: int) -> None:
        self._expected = expected
        self._inflated = 0
        self._zlib = zlib.decompressobj()

    def feed(self, data: bytes) -> None:
        try:
            while True:
                out = self._zlib.decompress(data, _INFLATE_STEP)
                self._inflated += len(out)
                if self._inflated > self._expected:
                    raise _Incomplete(f"the image data inflates past the {self._expected} bytes its header implies")
                data = self._zlib.unconsumed_tail
                # A full step may leave output pending inside zlib even with no input left.
                if not data and len(out) < _INFLATE_STEP:
                    return
        except zlib.error as exc:
            raise _Incomplete(f"the image data is not a valid zlib stream ({exc})") from exc

    def finish(self) -> None:
        if not self._zlib.eof:
            raise _Incomplete("the image data stops before the end of its zlib stream")
        if self._inflated != self._expected:
            raise _Incomplete(f"the image data inflates to {self._inflated} bytes, its header implies {self._expected}")


# As libjpeg looks for markers: a 0xFF followed by neither a stuffed zero nor another 0xFF
# (fill), any other bytes skipped. Inside a scan, restart markers belong to the scan too.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xff]")
_JPEG_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_SOI, _JPEG_EOI, _JPEG_SOS = 0xD8, 0xD9, 0xDA
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
# Start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _check_jpeg(reader: _Reader) -> None:
    if reader.read(2, "the JPEG SOI marker") != b"\xff\xd8":
        raise _Incomplete("no SOI marker")
    seen_frame = seen_scan = False
    marker = _jpeg_next_marker(reader, _JPEG_MARKER)
    while marker != _JPEG_EOI:
        if marker == _JPEG_SOI:
            raise _Incomplete("a second SOI marker")
        if marker in _JPEG_STANDALONE:
            marker = _jpeg_next_marker(reader, _JPEG_MARKER)
            continue
        (length,) = struct.unpack(">H", reader.read(2, f"the length of marker {marker:02X}"))
        if length < 2:
            raise _Incomplete(f"marker {marker:02X} has length {length}")
        reader.skip(length - 2, f"marker segment {marker:02X}")
        seen_frame = seen_frame or marker in _JPEG_SOF
        if marker == _JPEG_SOS and not seen_frame:
            raise _Incomplete("a scan before any frame header")
        seen_scan = seen_scan or marker == _JPEG_SOS
        marker = _jpeg_next_marker(reader, _JPEG_SCAN_END if marker == _JPEG_SOS else _JPEG_MARKER)
    if not seen_scan:
        raise _Incomplete("no scan before EOI")


def _jpeg_next_marker(reader: _Reader, pattern: re.Pattern[bytes]) -> int:
    """The code of the next marker ``pattern`` finds; the reader is left just after it."""
    carry = b""
    while True:
        start = reader.tell() - len(carry)
        piece = reader.stream.read(_READ_STEP)
        if not piece:
            raise _Incomplete("the file ends before EOI")
        data = carry + piece
        found = pattern.search(data)
        if found:
            reader.stream.seek(start + found.end())
            return data[found.end() - 1]
        # A 0xFF at the end of a piece may start the marker the next piece finishes.
        carry = data[-1:] if data.endswith(b"\xff") else b""


_WEBP_IMAGE_CHUNKS = frozenset({b"VP8 ", b"VP8L", b"ANMF"})


def _check_webp(reader: _Reader) -> None:
    riff, size, form = struct.unpack("<4sI4s", reader.read(12, "the RIFF header"))
    if riff != b"RIFF" or form != b"WEBP":
        raise _Incomplete("no RIFF WEBP header")
    end = 8 + size
    if end > reader.size:
        raise _Incomplete(f"the RIFF header claims {end} bytes, the file has {reader.size}")
    seen_image = False
    while reader.tell() < end:
        if reader.tell() + 8 > end:
            raise _Incomplete("a chunk header crosses the RIFF end")
        fourcc, length = struct.unpack("<4sI", reader.read(8, "a chunk header"))
        if reader.tell() + length > end:
            raise _Incomplete(f"chunk {fourcc!r} crosses the RIFF end")
        # Chunks are padded to even sizes, but a writer may leave out the last chunk's pad.
        reader.skip(min(length + (length & 1), end - reader.tell()), f"chunk {fourcc!r}")
        seen_image = seen_image or fourcc in _WEBP_IMAGE_CHUNKS
    if not seen_image:
        raise _Incomplete("no image data chunk")
