"""The fake Bot API refuses uploads as Telegram does: a photo of impossible dimensions, a file
larger than a bot may upload."""

from __future__ import annotations

import struct
import zlib

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramEntityTooLarge
from aiogram.types import BufferedInputFile

from bot.app import create_bot
from bot.fake_telegram import FakeTelegram
from bot.fake_telegram.files import PHOTO_LIMIT


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = zlib.compress(b"\x00" * (width + 1) * min(height, 4))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


async def test_photo_dimensions_and_sizes() -> None:
    async with FakeTelegram(rate_limits=False) as tg:
        tg.add_user(5, "Eve")
        tg.send_text(5, "/start")  # a bot writes to people who wrote to it first
        bot = create_bot(tg.token, tg.base_url)
        try:
            sent = await bot.send_photo(5, BufferedInputFile(png(1080, 2000), "ok.png"))
            assert sent.photo[-1].width == 1080 and sent.photo[-1].height == 2000
            with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
                await bot.send_photo(5, BufferedInputFile(png(200, 9900), "tall.png"))
            with pytest.raises(TelegramBadRequest, match="PHOTO_INVALID_DIMENSIONS"):
                await bot.send_photo(5, BufferedInputFile(png(100, 2500), "thin.png"))
            big = png(100, 100) + b"\x00" * PHOTO_LIMIT
            with pytest.raises(TelegramEntityTooLarge):
                await bot.send_photo(5, BufferedInputFile(big, "big.png"))
            doc = await bot.send_document(5, BufferedInputFile(b"a;b\r\n1;2\r\n", "t.csv"))
            assert doc.document.file_name == "t.csv"
            assert tg.file_bytes(doc.document.file_id) == b"a;b\r\n1;2\r\n"
        finally:
            await bot.session.close()
