"""The default classifier: the bytes must decode as the declared image type.

Pillow does the decoding. Dimensions are read from the header and checked against a
pixel budget *before* any pixel is decoded, so a small file that claims to be huge (a
decompression bomb) is refused without being expanded.
"""

from __future__ import annotations

import warnings
from typing import BinaryIO

from upload_tickets._errors import UnprocessableImage
from upload_tickets._models import Classification
from upload_tickets.protocols import PoseDetector

_FORMAT_TO_TYPE = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class UnknownPose:
    """The honest default: no pose model is installed, so the pose is ``unknown``."""

    def detect(self, image: object) -> str:
        """Always ``"unknown"``."""
        return "unknown"


class ImageClassifier:
    """Checks magic bytes and full decodability, reads dimensions, asks a pose detector."""

    def __init__(self, pose_detector: PoseDetector | None = None, *, max_pixels: int = 40_000_000) -> None:
        self._pose_detector: PoseDetector = pose_detector or UnknownPose()
        self._max_pixels = max_pixels

    def classify(self, stream: BinaryIO, declared_type: str) -> Classification:
        """Describe the image in ``stream``; ``UnprocessableImage`` if it is not ``declared_type``."""
        from PIL import Image, UnidentifiedImageError

        try:
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
                image.load()
        except UnprocessableImage:
            raise
        except Image.DecompressionBombError as exc:
            # Pillow's own guard fires in open() for images far past its default budget.
            raise UnprocessableImage(str(exc), code="image_too_large", param="upload_id") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise UnprocessableImage(f"the bytes are not a readable {declared_type} image", param="upload_id") from exc
        return Classification(
            detected_type=detected,
            width=width,
            height=height,
            pose=self._pose_detector.detect(image),
        )
