"""A large request body sent to a database that does not exist: CouchDB 3 answers 404 before it reads the body
and closes the connection, so the client cannot finish sending it and never sees the answer. The client must
still report the missing database (which the callers treat as empty, or create), never "CouchDB unavailable"
(seen as a 503 from a bulk POST of 5,000 ids into a month without a database)."""
from __future__ import annotations

import asyncio
import json

import pytest

from kazoo_vm.storage import CouchClient, NotFound
from kazoo_vm.storage.errors import is_db_missing

MISSING = json.dumps({"error": "not_found", "reason": "Database does not exist."}).encode()


async def _answer_before_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """What the client sees from CouchDB for a missing database: a request without a body gets its 404; one with
    a large body gets a reset (CouchDB answers 404 without reading the body and closes, and the kernel resets a
    connection closed with unread data: the client that is still sending loses the answer with it)."""
    headers = await reader.readuntil(b"\r\n\r\n")
    if b"content-length: 0" not in headers.lower() and b"content-length" in headers.lower():
        writer.transport.abort()
        return
    writer.write(b"HTTP/1.1 404 Object Not Found\r\nContent-Type: application/json\r\nConnection: close\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(MISSING), MISSING))
    await writer.drain()
    writer.close()


@pytest.fixture
async def couch_answering_early():
    server = await asyncio.start_server(_answer_before_reading, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = CouchClient(f"http://127.0.0.1:{port}", timeout=5.0)
    yield client
    await client.close()
    server.close()
    await server.wait_closed()


async def test_a_large_all_docs_on_a_missing_database_is_not_found(couch_answering_early):
    keys = [f"202611-{index:032x}" for index in range(20_000)]  # about 800 KB: more than the socket buffers take
    with pytest.raises(NotFound) as found:
        await couch_answering_early.all_docs("account%2Fno%2Fsuch", keys)
    assert is_db_missing(found.value)


async def test_a_large_bulk_docs_on_a_missing_database_is_not_found(couch_answering_early):
    docs = [{"_id": f"202611-{index:032x}", "data": "x" * 200} for index in range(5_000)]
    with pytest.raises(NotFound) as found:
        await couch_answering_early.bulk_docs("account%2Fno%2Fsuch-202611", docs)
    assert is_db_missing(found.value)
