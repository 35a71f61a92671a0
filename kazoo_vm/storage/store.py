"""The one door to storage. The domain asks for documents by id, bulk writes with an outcome per id, view
rows and attachment streams; databases that do not exist read as empty and are created (with their design
documents) when something is written to them. Nothing above this module touches the CouchDB client."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from . import attachments
from .attachments import Prefetch
from .couch import JSON, CouchClient
from .design_docs import DesignDocs
from .errors import NotFound, is_db_missing

T = TypeVar("T")


class Store:
    def __init__(self, client: CouchClient):
        # public for storage tests and devtools; the domain never uses it
        self.client = client
        self.designs = DesignDocs(client)

    @classmethod
    def connect(cls, url: str, *, timeout: float, write_quorum: str) -> "Store":
        return cls(CouchClient(url, timeout=timeout, write_quorum=write_quorum))

    @property
    def timeout(self) -> float:
        """Seconds storage is given to answer before it counts as unavailable."""
        return self.client.request_timeout

    @property
    def requests(self) -> int:
        """CouchDB requests made so far (the benchmark's and the tests' measure)."""
        return self.client.requests

    async def close(self) -> None:
        await self.client.close()

    async def ping(self) -> None:
        """Raises a StorageError when CouchDB does not answer."""
        await self.client.server_info()

    # documents
    async def get(self, db: str, doc_id: str) -> JSON:
        """A document; NotFound when it (or its database) does not exist."""
        return await self.client.get(db, doc_id)

    async def revision(self, db: str, doc_id: str, rev: str) -> JSON | None:
        """One revision of a document (with its attachment stubs); None when it is gone (compacted, deleted
        database)."""
        try:
            return await self.client.get(db, doc_id, rev=rev)
        except NotFound:
            return None

    async def find(self, db: str, doc_id: str) -> JSON | None:
        """A document, or None when it (or its database) does not exist."""
        return await self.client.get_or_none(db, doc_id)

    async def put(self, db: str, doc: JSON) -> JSON:
        """Save a document (Conflict when its `_rev` is not the stored one); sets and returns its new `_rev`."""
        return await self.client.put(db, doc)

    async def put_exclusive(self, db: str, doc: JSON) -> bool:
        """Save a document only one writer may win (a claim): True when this write is the stored winner, also on
        a cluster where racing writers can all be answered (docs/couchdb.md)."""
        return await self.client.put_exclusive(db, doc)

    async def put_by_majority(self, db: str, doc: JSON) -> bool:
        """Save a document (a lock) only when more than half of its copies take it, so that two writers of one
        revision or new id never both succeed, on a cluster too, with a node down as well (docs/couchdb.md)."""
        return await self.client.put_by_majority(db, doc)

    async def furthest(self, db: str, doc_id: str) -> JSON | None:
        """A document as the revision reaching furthest on any of its copies has it (a tombstone too), or None:
        on a cluster, a copy back from being down can still show a revision the others have replaced."""
        return await self.client.furthest(db, doc_id)

    async def replicated(self, db: str) -> bool:
        """Whether the database keeps more than one copy of each document (a cluster)."""
        return await self.client.copies(db) is not None

    async def delete(self, db: str, doc_id: str, rev: str) -> None:
        await self.client.delete(db, doc_id, rev)

    async def put_creating_db(self, db: str, classification: str, doc: JSON) -> JSON:
        """put(), creating the database (with its design documents) when it does not exist yet."""
        return await self._creating_db(db, classification, lambda: self.client.put(db, doc))

    async def many(self, db: str, ids: list[str], *, with_attachments: bool = False) -> list[JSON]:
        """One row per id: `{"key", "doc"}` when found, `{"key"}` without `doc` when not (a missing database
        has none of them); deleted documents' rows carry `value.deleted`. With attachments, documents carry
        their attachments' data in base64."""
        try:
            return await self.client.all_docs(db, ids, attachments=with_attachments)
        except NotFound as error:
            if not is_db_missing(error):
                raise
            return [{"key": doc_id} for doc_id in ids]

    async def write_many(self, db: str, docs: list[JSON]) -> list[JSON]:
        """One outcome per document, in order: `{"id", "rev"}` or `{"id", "error", "reason"}`."""
        return await self.client.bulk_docs(db, docs)

    async def write_many_creating_db(self, db: str, classification: str, docs: list[JSON]) -> list[JSON]:
        return await self._creating_db(db, classification, lambda: self.client.bulk_docs(db, docs))

    async def ids(self, db: str) -> list[str]:
        """Every document id of a database."""
        return await self.client.all_ids(db)

    # views
    async def rows(self, db: str, classification: str, design: str, view: str, **params: Any) -> list[JSON]:
        """Rows of a view; [] when the database does not exist; installs the design document if it is missing."""
        for attempt in range(2):
            try:
                return (await self.client.view(db, design, view, **params))["rows"]
            except NotFound as error:
                if is_db_missing(error):
                    return []
                if attempt:
                    raise
                await self.designs.ensure(db, classification, force=True)
        return []

    # databases
    async def create_db(self, db: str, classification: str) -> bool:
        """Create a database with its design documents; False when it existed already."""
        created = await self.client.db_create(db)
        if created:
            await self.designs.install_new(db, classification)
        else:
            await self.designs.ensure(db, classification)
        return created

    async def install_design_docs(self, db: str, classification: str) -> None:
        await self.designs.ensure(db, classification)

    async def delete_db(self, db: str) -> None:
        await self.client.db_delete(db)

    # attachments
    def read_attachment(self, db: str, doc_id: str, name: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive) of an attachment, streamed."""
        return attachments.read_range(self.client, db, doc_id, name, start, end)

    def prefetch_attachment(self, db: str, doc_id: str, name: str, start: int, end: int) -> Prefetch:
        """read_attachment() whose request is sent now; its bytes are streamed later, or it is closed unused."""
        return Prefetch(attachments.read_range(self.client, db, doc_id, name, start, end))

    async def put_attachment(self, db: str, doc_id: str, rev: str, name: str, content_type: str,
                             chunks: AsyncIterator[bytes] | Path, length: int) -> str:
        """Stream a file or chunks into a document as attachment `name`; returns the new revision."""
        data = attachments.file_chunks(chunks) if isinstance(chunks, Path) else chunks
        return await self.client.put_attachment(db, doc_id, rev, name, content_type, data, length=length)

    async def _creating_db(self, db: str, classification: str, write: Callable[[], Awaitable[T]]) -> T:
        try:
            return await write()
        except NotFound as error:
            if not is_db_missing(error):
                raise
        await self.create_db(db, classification)
        return await write()

