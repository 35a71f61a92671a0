"""A ZIP archive written straight into a streamed response: zipfile writes into a small buffer that is
sent after every chunk, so neither the archive nor a whole recording is ever held in memory."""
from __future__ import annotations

import io
import time
import zipfile
from collections.abc import AsyncIterator

from aiohttp import web


class _Sink(io.RawIOBase):
    """A write-only, unseekable file: zipfile then writes data descriptors instead of seeking back."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.buffer += data
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class ZipStream:
    def __init__(self, response: web.StreamResponse):
        self.response = response
        self.sink = _Sink()
        self.archive = zipfile.ZipFile(self.sink, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)

    async def add(self, name: str, chunks: AsyncIterator[bytes]) -> None:
        entry = zipfile.ZipInfo(name, time.gmtime()[:6])
        entry.compress_type = zipfile.ZIP_STORED
        with self.archive.open(entry, mode="w", force_zip64=True) as target:
            async for chunk in chunks:
                target.write(chunk)
                await self.response.write(self.sink.take())
        await self.response.write(self.sink.take())

    async def close(self) -> None:
        self.archive.close()
        await self.response.write(self.sink.take())
