"""The image classifier: complete images of the declared type pass, anything else is refused."""

from __future__ import annotations

import functools
import io
import random
import struct
import threading
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from upload_tickets import ImageClassifier, UnprocessableImage
from upload_tickets._errors import StoreUnavailable
from upload_tickets._models import Classification
from upload_tickets.classify import _check_complete, _Incomplete

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Adam7 passes: (first column, first row, column step, row step), restated from the PNG spec.
ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def classify(data: bytes, declared_type: str, classifier: ImageClassifier | None = None) -> Classification:
    return (classifier or ImageClassifier()).classify(io.BytesIO(data), declared_type)


def refusal(data: bytes, declared_type: str, classifier: ImageClassifier | None = None) -> UnprocessableImage:
    with pytest.raises(UnprocessableImage) as caught:
        classify(data, declared_type, classifier)
    assert caught.value.param == "upload_id"
    assert caught.value.http_status == 422
    return caught.value


def noise(mode: str, size: tuple[int, int], seed: int = 0) -> Image.Image:
    """An image of ``mode`` full of seeded random pixels (so it does not compress away)."""
    rgb = Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))
    image = rgb.convert(mode)
    if "A" in mode:
        image.putalpha(noise("L", size, seed + 1))
    return image


def encode(image: Image.Image, image_format: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **params)
    return buffer.getvalue()


def png_chunk(chunk_type: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", zlib.crc32(chunk_type + data))


def png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png.startswith(PNG_SIGNATURE)
    chunks, position = [], len(PNG_SIGNATURE)
    while position < len(png):
        length, chunk_type = struct.unpack(">I4s", png[position : position + 8])
        chunks.append((chunk_type, png[position + 8 : position + 8 + length]))
        position += 12 + length
    return chunks


def png_from_chunks(chunks: list[tuple[bytes, bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(png_chunk(chunk_type, data) for chunk_type, data in chunks)


def png_scanlines(pixels: list[list[tuple[int, ...]]], bit_depth: int, *, interlace: bool) -> bytes:
    """The filtered (filter type 0) scanlines of ``pixels``, pass by pass when ``interlace``."""
    height, width = len(pixels), len(pixels[0])
    raw = bytearray()
    for first_column, first_row, column_step, row_step in ADAM7 if interlace else ((0, 0, 1, 1),):
        columns = range(first_column, width, column_step)
        for y in range(first_row, height, row_step) if columns else ():
            packed, bits = 0, 0
            for x in columns:
                for sample in pixels[y][x]:
                    packed, bits = packed << bit_depth | sample, bits + bit_depth
            padding = -bits % 8
            raw += b"\x00" + (packed << padding).to_bytes((bits + padding) // 8, "big")
    return bytes(raw)


def png_image(
    size: tuple[int, int], color_type: int, bit_depth: int, *, interlace: bool, cut: int = 0, seed: int = 0
) -> bytes:
    """A PNG written by hand (Pillow cannot write Adam7 or 48-bit RGB); ``cut`` drops scanline bytes."""
    width, height = size
    rng = random.Random(seed)
    pixels = [
        [tuple(rng.randrange(1 << bit_depth) for _ in range(CHANNELS[color_type])) for _ in range(width)]
        for _ in range(height)
    ]
    raw = png_scanlines(pixels, bit_depth, interlace=interlace)
    chunks = [(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, int(interlace)))]
    if color_type == 3:
        chunks.append((b"PLTE", rng.randbytes(3 << bit_depth)))
    chunks += [(b"IDAT", zlib.compress(raw[: len(raw) - cut])), (b"IEND", b"")]
    return png_from_chunks(chunks)


def webp_cut_with_consistent_sizes(webp: bytes, length: int) -> bytes:
    """The first ``length`` bytes of a simple WebP, its RIFF and chunk sizes rewritten to match."""
    cut = bytearray(webp[:length])
    struct.pack_into("<I", cut, 4, length - 8)
    struct.pack_into("<I", cut, 16, length - 20)
    return bytes(cut)


VALID: dict[str, tuple[str, Callable[[], bytes]]] = {
    "jpeg-rgb": ("image/jpeg", lambda: encode(noise("RGB", (37, 23)), "JPEG")),
    "jpeg-gray": ("image/jpeg", lambda: encode(noise("L", (16, 9)), "JPEG")),
    "jpeg-cmyk": ("image/jpeg", lambda: encode(noise("CMYK", (20, 20)), "JPEG")),
    "jpeg-progressive": ("image/jpeg", lambda: encode(noise("RGB", (50, 40)), "JPEG", progressive=True)),
    "jpeg-restart-markers": ("image/jpeg", lambda: encode(noise("RGB", (64, 48)), "JPEG", restart_marker_rows=1)),
    "png-rgb": ("image/png", lambda: encode(noise("RGB", (31, 17)), "PNG")),
    "png-rgba": ("image/png", lambda: encode(noise("RGBA", (5, 40)), "PNG")),
    "png-gray": ("image/png", lambda: encode(noise("L", (13, 7)), "PNG")),
    "png-gray-alpha": ("image/png", lambda: encode(noise("LA", (13, 7)), "PNG")),
    "png-1-bit": ("image/png", lambda: encode(noise("1", (19, 3)), "PNG")),
    "png-palette": ("image/png", lambda: encode(noise("P", (21, 11)), "PNG")),
    "png-palette-4-bit": ("image/png", lambda: encode(noise("RGB", (21, 11)).quantize(12), "PNG")),
    "png-palette-2-bit": ("image/png", lambda: encode(noise("RGB", (21, 11)).quantize(3), "PNG")),
    "png-16-bit-gray": ("image/png", lambda: encode(noise("L", (9, 9)).convert("I;16"), "PNG")),
    "png-several-idat-chunks": ("image/png", lambda: encode(noise("RGB", (200, 200)), "PNG")),
    "png-interlaced": ("image/png", lambda: png_image((23, 14), 2, 8, interlace=True)),
    "webp-lossy": ("image/webp", lambda: encode(noise("RGB", (30, 20)), "WEBP")),
    "webp-lossy-alpha": ("image/webp", lambda: encode(noise("RGBA", (30, 20)), "WEBP")),
    "webp-lossless": ("image/webp", lambda: encode(noise("RGB", (30, 20)), "WEBP", lossless=True)),
}


@functools.cache
def valid(name: str) -> bytes:
    return VALID[name][1]()


@pytest.mark.parametrize("name", sorted(VALID))
def test_complete_images_classify_with_their_dimensions(name: str) -> None:
    content_type = VALID[name][0]
    with Image.open(io.BytesIO(valid(name))) as image:
        size = image.size
    assert classify(valid(name), content_type) == Classification(content_type, *size, "unknown")


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize(
    ("color_type", "bit_depth", "size"),
    [
        (0, 1, (1, 1)),
        (0, 2, (3, 5)),
        (0, 4, (9, 17)),
        (0, 8, (8, 8)),
        (0, 16, (5, 3)),
        (2, 8, (33, 10)),
        (2, 16, (7, 9)),
        (3, 1, (11, 4)),
        (3, 4, (2, 13)),
        (3, 8, (16, 16)),
        (4, 8, (2, 2)),
        (4, 16, (3, 3)),
        (6, 8, (10, 1)),
        (6, 16, (13, 7)),
    ],
)
def test_every_png_layout_classifies(color_type: int, bit_depth: int, size: tuple[int, int], interlace: bool) -> None:
    png = png_image(size, color_type, bit_depth, interlace=interlace)
    with (
        Image.open(io.BytesIO(png)) as image,
        Image.open(io.BytesIO(png_image(size, color_type, bit_depth, interlace=False))) as plain,
    ):
        # The hand-written encoder is right if Pillow reads both layouts as the same pixels.
        assert image.tobytes() == plain.tobytes()
    assert classify(png, "image/png") == Classification("image/png", *size, "unknown")


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("cut", [1, 40])
def test_png_short_of_its_last_bytes_of_pixels_is_refused(interlace: bool, cut: int) -> None:
    assert "complete" in refusal(png_image((37, 29), 2, 8, interlace=interlace, cut=cut), "image/png").message


def test_png_whose_data_stops_after_four_rows_of_6000x6000_is_refused() -> None:
    four_rows = encode(Image.new("RGB", (6000, 4), (200, 30, 90)), "PNG")
    (_, header), *rest = png_chunks(four_rows)
    forged = png_from_chunks([(b"IHDR", struct.pack(">II", 6000, 6000) + header[8:]), *rest])
    assert len(forged) < 200
    with Image.open(io.BytesIO(forged)) as image:
        assert image.size == (6000, 6000)
    refused = refusal(forged, "image/png")
    assert refused.code == "image_unreadable"
    assert "inflates to 72004 bytes" in refused.message


def test_png_with_more_rows_than_its_header_is_refused() -> None:
    (_, header), *rest = png_chunks(valid("png-rgb"))
    shorter = png_from_chunks([(b"IHDR", header[:4] + struct.pack(">I", 16) + header[8:]), *rest])
    assert "inflates past" in refusal(shorter, "image/png").message


def test_png_with_its_zlib_stream_cut_is_refused() -> None:
    chunks = png_chunks(valid("png-rgb"))
    cut = [(chunk_type, data[:-10] if chunk_type == b"IDAT" else data) for chunk_type, data in chunks]
    assert "zlib" in refusal(png_from_chunks(cut), "image/png").message


def test_png_without_iend_is_refused() -> None:
    chunks = png_chunks(valid("png-rgb"))
    assert chunks[-1][0] == b"IEND"
    assert "ends inside a chunk header" in refusal(png_from_chunks(chunks[:-1]), "image/png").message


def test_png_with_a_damaged_chunk_is_refused() -> None:
    png = bytearray(valid("png-several-idat-chunks"))
    png[len(png) // 2] ^= 0x01
    refusal(bytes(png), "image/png")


def test_png_with_trailing_bytes_after_iend_classifies() -> None:
    assert classify(valid("png-rgb") + b"trailing", "image/png").width == 31


@pytest.mark.parametrize(
    ("data", "declared_type", "code"),
    [
        (b"", "image/png", "image_unreadable"),
        (b"", "image/jpeg", "image_unreadable"),
        (b"", "image/webp", "image_unreadable"),
        (random.Random(1).randbytes(5000), "image/png", "image_unreadable"),
        (random.Random(2).randbytes(5000), "image/jpeg", "image_unreadable"),
        (PNG_SIGNATURE + random.Random(3).randbytes(5000), "image/png", "image_unreadable"),
        (b"\xff\xd8\xff" + random.Random(4).randbytes(5000), "image/jpeg", "image_unreadable"),
        (b"RIFF\x00\x10\x00\x00WEBP" + random.Random(5).randbytes(5000), "image/webp", "image_unreadable"),
    ],
)
def test_bytes_that_are_not_an_image_are_refused(data: bytes, declared_type: str, code: str) -> None:
    assert refusal(data, declared_type).code == code


@pytest.mark.parametrize(
    ("name", "declared_type"),
    [("jpeg-rgb", "image/png"), ("png-rgb", "image/jpeg"), ("webp-lossy", "image/png"), ("png-rgb", "image/webp")],
)
def test_an_image_of_another_type_is_refused(name: str, declared_type: str) -> None:
    assert refusal(valid(name), declared_type).code == "image_type_mismatch"


@pytest.mark.parametrize("name", ["jpeg-rgb", "jpeg-progressive", "jpeg-restart-markers"])
def test_jpeg_cut_in_its_scan_data_or_before_eoi_is_refused(name: str) -> None:
    jpeg = valid(name)
    assert jpeg.endswith(b"\xff\xd9")
    for length in (len(jpeg) // 2, len(jpeg) - 1, len(jpeg) - 2):
        refusal(jpeg[:length], "image/jpeg")


def test_jpeg_walk_skips_segments_whose_payload_looks_like_markers() -> None:
    jpeg = valid("jpeg-rgb")
    payload = b"\xff\xd9\xff\xda fake markers \xff\xd9"
    with_segment = jpeg[:2] + b"\xff\xef" + struct.pack(">H", 2 + len(payload)) + payload + jpeg[2:]
    assert classify(with_segment, "image/jpeg").width == 37
    refusal(with_segment[: len(with_segment) // 2], "image/jpeg")


def test_jpeg_with_bytes_after_eoi_classifies() -> None:
    # Phones append a motion-photo video after the EOI of the still.
    assert classify(valid("jpeg-rgb") + b"\x00\x00\x00\x18ftypmp42" + bytes(100), "image/jpeg").width == 37


@pytest.mark.parametrize("name", ["webp-lossy", "webp-lossy-alpha", "webp-lossless"])
def test_webp_cut_short_is_refused(name: str) -> None:
    webp = valid(name)
    for length in (len(webp) // 2, len(webp) - 1):
        refusal(webp[:length], "image/webp")


@pytest.mark.parametrize("name", ["webp-lossy", "webp-lossless"])
def test_webp_cut_short_with_sizes_rewritten_to_match_is_refused_by_the_decoder(name: str) -> None:
    webp = valid(name)
    for length in (len(webp) // 2, len(webp) - 10):
        assert "readable" in refusal(webp_cut_with_consistent_sizes(webp, length), "image/webp").message


@settings(max_examples=300)
@given(name=st.sampled_from(sorted(VALID)), data=st.data())
def test_any_prefix_of_a_valid_image_is_refused(name: str, data: st.DataObject) -> None:
    whole = valid(name)
    length = data.draw(
        st.one_of(st.integers(0, len(whole) - 1), st.integers(1, 64).map(lambda short: len(whole) - short)),
        label="length",
    )
    refusal(whole[:length], VALID[name][0])
    # Pillow refuses most prefixes by itself; the structure checks must not need it to.
    with pytest.raises(_Incomplete):
        _check_complete(io.BytesIO(whole[:length]), VALID[name][0])


@pytest.mark.parametrize("name", sorted(VALID))
def test_the_structure_checks_pass_complete_images(name: str) -> None:
    _check_complete(io.BytesIO(valid(name)), VALID[name][0])


def test_the_stream_is_left_open_and_truncated_images_stay_refused_globally() -> None:
    stream = io.BytesIO(valid("png-rgb"))
    ImageClassifier().classify(stream, "image/png")
    assert not stream.closed
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_an_unseekable_stream_is_read_whole() -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            return self._data.readinto(buffer)

    stream = io.BufferedReader(Unseekable(valid("png-rgb")))
    assert not stream.seekable()
    assert ImageClassifier().classify(stream, "image/png").height == 17


class BlockingPose:
    """A pose detector that holds its decode slot until ``release`` is set."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()

    def detect(self, image: object) -> str:
        self.entered.release()
        assert self.release.wait(timeout=30)
        return "front"


def classify_in_thread(classifier: ImageClassifier, data: bytes, results: list[Classification]) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.append(classify(data, "image/png", classifier)))
    thread.start()
    return thread


def test_a_caller_that_cannot_get_a_decode_slot_in_time_is_told_to_retry() -> None:
    pose = BlockingPose()
    classifier = ImageClassifier(pose, max_pixels=1_000, max_concurrent_decodes=2, decode_wait_s=0.05)
    small = encode(noise("RGB", (20, 20)), "PNG")
    results: list[Classification] = []
    holders = [classify_in_thread(classifier, small, results) for _ in range(2)]
    try:
        for _ in holders:
            assert pose.entered.acquire(timeout=10)
        with pytest.raises(StoreUnavailable) as caught:
            classify(small, "image/png", classifier)
        assert (caught.value.code, caught.value.http_status) == ("decoder_busy", 503)
        assert caught.value.message == "too many images are being decoded; retry"
        # Bombs, cut files and wrong types are refused from their headers, never queued.
        assert refusal(encode(noise("RGB", (100, 100)), "PNG"), "image/png", classifier).code == "image_too_large"
        assert refusal(small[:-30], "image/png", classifier).code == "image_unreadable"
        assert refusal(valid("jpeg-rgb"), "image/png", classifier).code == "image_type_mismatch"
    finally:
        pose.release.set()
        for thread in holders:
            thread.join(timeout=10)
    assert [result.pose for result in results] == ["front", "front"]
    assert classify(small, "image/png", classifier).pose == "front"


def test_a_caller_waits_for_a_slot_to_free() -> None:
    pose = BlockingPose()
    classifier = ImageClassifier(pose, max_concurrent_decodes=1, decode_wait_s=30)
    small = valid("png-rgb")
    results: list[Classification] = []
    holder = classify_in_thread(classifier, small, results)
    assert pose.entered.acquire(timeout=10)
    waiter = classify_in_thread(classifier, small, results)
    pose.release.set()
    for thread in (holder, waiter):
        thread.join(timeout=10)
    assert len(results) == 2


def test_a_failed_decode_gives_its_slot_back() -> None:
    class FailingOnce:
        def __init__(self) -> None:
            self.calls = 0

        def detect(self, image: object) -> str:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("pose model crashed")
            return "side"

    classifier = ImageClassifier(FailingOnce(), max_concurrent_decodes=1, decode_wait_s=0)
    with pytest.raises(RuntimeError):
        classify(valid("png-rgb"), "image/png", classifier)
    webp = valid("webp-lossy")
    refusal(webp_cut_with_consistent_sizes(webp, len(webp) // 2), "image/webp", classifier)
    assert classify(valid("png-rgb"), "image/png", classifier).pose == "side"


@pytest.mark.parametrize("options", [{"max_concurrent_decodes": 0}, {"decode_wait_s": -1}])
def test_impossible_decode_limits_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ImageClassifier(**options)
