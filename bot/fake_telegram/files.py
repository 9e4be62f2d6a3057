"""What the fake reads from an uploaded file: image size, MIME type by name."""

from __future__ import annotations

import mimetypes


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width/height of a PNG or JPEG (enough to fill PhotoSize realistically)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
            i += 2 + seg_len
        return 1, 1
    return None


def guess_mime(file_name: str | None) -> str | None:
    if not file_name:
        return None
    return mimetypes.guess_type(file_name)[0]


# Telegram's limits on what a bot uploads.
UPLOAD_LIMIT = 50 * 1024 * 1024  # a document (multipart upload)
PHOTO_LIMIT = 10 * 1024 * 1024
PHOTO_MAX_SIDES = 10_000  # width + height
PHOTO_MAX_RATIO = 20


def photo_problem(data: bytes) -> str | None:
    """Telegram's error for a photo it refuses, or None."""
    size = image_size(data)
    if size is None:
        return None
    width, height = size
    if width + height > PHOTO_MAX_SIDES or max(width, height) > PHOTO_MAX_RATIO * max(1, min(width, height)):
        return "PHOTO_INVALID_DIMENSIONS"
    return None
