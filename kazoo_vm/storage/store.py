"""The storage facade the domain uses: views that treat a missing database as empty and install
missing design documents, and databases created on demand with their design documents."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .couch import JSON, CouchClient
from .design_docs import DesignDocs
from .errors import NotFound, is_db_missing

T = TypeVar("T")


class Store:
    def __init__(self, couch: CouchClient):
        self.couch = couch
        self.designs = DesignDocs(couch)
        self.created_dbs: set[str] = set()

    # documents (the same names as the storage facade of issue 13)
    async def get(self, db: str, doc_id: str) -> JSON:
        """A document; NotFound when it (or its database) does not exist."""
        return await self.couch.get(db, doc_id)

    async def find(self, db: str, doc_id: str) -> JSON | None:
        """A document, or None when it (or its database) does not exist."""
        return await self.couch.get_or_none(db, doc_id)

    async def put(self, db: str, doc: JSON) -> JSON:
        """Save a document (Conflict when its `_rev` is not the stored one); sets and returns its new `_rev`."""
        return await self.couch.put(db, doc)

    async def rows(self, db: str, classification: str, design: str, view: str, **params: Any) -> list[JSON]:
        """Rows of a view; [] when the database does not exist; installs the design document if it is missing."""
        for attempt in range(2):
            try:
                return (await self.couch.view(db, design, view, **params))["rows"]
            except NotFound as error:
                if is_db_missing(error):
                    return []
                if attempt:
                    raise
                await self.designs.ensure(db, classification, force=True)
        return []

    async def create_db(self, db: str, classification: str) -> None:
        created = await self.couch.db_create(db)
        if created:
            self.created_dbs.add(db)
        await self.designs.ensure(db, classification, force=created)

    async def put_creating_db(self, db: str, classification: str, doc: JSON) -> JSON:
        """Save a document, creating its database (with design documents) when it does not exist yet."""
        return await self._creating_db(db, classification, lambda: self.couch.put(db, doc))

    async def bulk_creating_db(self, db: str, classification: str, docs: list[JSON]) -> list[JSON]:
        return await self._creating_db(db, classification, lambda: self.couch.bulk_docs(db, docs))

    async def _creating_db(self, db: str, classification: str, write: Callable[[], Awaitable[T]]) -> T:
        try:
            return await write()
        except NotFound as error:
            if not is_db_missing(error):
                raise
        await self.create_db(db, classification)
        return await write()
