"""Attachment streaming in both directions; no recording is ever held whole in memory."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiofiles

from .couch import CouchClient
from .errors import Unavailable

FILE_READ_BYTES = 512 * 1024
FAILURE_WAIT = 0.5


async def file_chunks(path: Path, chunk: int = FILE_READ_BYTES) -> AsyncIterator[bytes]:
    async with aiofiles.open(path, "rb") as source:
        while data := await source.read(chunk):
            yield data


async def put_file(couch: CouchClient, db: str, doc_id: str, rev: str, name: str, content_type: str,
                   path: Path, size: int) -> str:
    """Stream a file into a document as attachment `name`; returns the new revision."""
    try:
        return await couch.put_attachment(db, doc_id, rev, name, content_type, file_chunks(path), length=size)
    except Unavailable as error:
        if (error.status or 0) < 500:
            raise
    # CouchDB failed under the upload (a cluster node dying): the file is still here, send it once more
    await asyncio.sleep(FAILURE_WAIT)
    return await couch.put_attachment(db, doc_id, rev, name, content_type, file_chunks(path), length=size)


async def read_range(couch: CouchClient, db: str, doc_id: str, name: str, start: int,
                     end: int) -> AsyncIterator[bytes]:
    """Bytes start..end (inclusive) of an attachment. CouchDB 3 answers the Range itself; a server that
    ignores Range (PouchDB Server) sends everything, and the bytes before `start` are skipped here."""
    if end < start:
        return
    headers = {"Range": f"bytes={start}-{end}"}
    async with couch.open_attachment(db, doc_id, name, headers=headers) as resp:
        position = start if resp.status == 206 else 0
        async for data in resp.content.iter_any():  # what has arrived, at most the client's read buffer
            first, position = position, position + len(data)
            low, high = max(start, first), min(end + 1, position)
            if low < high:
                yield data[low - first:high - first]
            if position > end:
                return


class Prefetch:
    """An attachment range asked for now, to be streamed later or dropped: the request is sent and its first
    bytes are awaited in a task of their own while the caller does other work (reads the message document).
    `stream()` yields everything from the first chunk on (raising what the request raised); `close()` must follow,
    streamed or not: it drops what was not read, and the connection with it."""

    def __init__(self, chunks: AsyncIterator[bytes]):
        self._chunks = chunks
        self._first = asyncio.ensure_future(self._read_first())

    async def _read_first(self) -> bytes | None:
        return await anext(self._chunks, None)

    async def stream(self) -> AsyncIterator[bytes]:
        first = await self._first
        if first is None:
            return
        yield first
        async for chunk in self._chunks:
            yield chunk

    async def close(self) -> None:
        if not self._first.done():
            self._first.cancel()
        await asyncio.wait([self._first])
        if not self._first.cancelled():
            self._first.exception()  # retrieved: a dropped prefetch's failure is nobody's error
        await self._chunks.aclose()
