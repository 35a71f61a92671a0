"""The design documents of `couch_views/`, installed into databases and updated when the file differs."""
from __future__ import annotations

from functools import cache

from .._data import couch_views_folder, json_documents
from .couch import JSON, CouchClient
from .errors import Conflict

VIEWS_DIR = couch_views_folder()

ACCOUNTS = "accounts"
ACCOUNT = "account"
MODB = "modb"
KNOWN_DATABASES = 10_000


@cache
def design_docs(classification: str) -> tuple[JSON, ...]:
    """The design documents for one kind of database, as stored in couch_views/<kind>/."""
    return tuple(json_documents(VIEWS_DIR / classification).values())


def _differs(stored: JSON, wanted: JSON) -> bool:
    return any(stored.get(key) != value for key, value in wanted.items() if key != "_id")


class DesignDocs:
    """Installs design documents once per database per process."""

    def __init__(self, couch: CouchClient):
        self.couch = couch
        self._done: set[str] = set()

    async def ensure(self, db: str, classification: str, *, force: bool = False) -> None:
        if db in self._done and not force:
            return
        for wanted in design_docs(classification):
            await self._install(db, wanted)
        self._remember(db)

    async def install_new(self, db: str, classification: str) -> None:
        """The design documents of a database this process has just created: written with one `_bulk_docs`, as
        there is nothing to compare with; one another writer stored meanwhile is compared as ensure() does."""
        wanted = {doc["_id"]: doc for doc in design_docs(classification)}
        outcomes = await self.couch.bulk_docs(db, [dict(doc) for doc in wanted.values()])
        for outcome in outcomes:
            if "error" in outcome:
                await self._install(db, wanted[outcome["id"]])
        self._remember(db)

    def _remember(self, db: str) -> None:
        if len(self._done) >= KNOWN_DATABASES:
            self._done.clear()  # forgetting costs one read of each design document again
        self._done.add(db)

    async def _install(self, db: str, wanted: JSON) -> None:
        for _ in range(3):
            stored = await self.couch.get_or_none(db, wanted["_id"])
            if stored is not None and not _differs(stored, wanted):
                return
            doc = dict(wanted)
            if stored is not None:
                doc["_rev"] = stored["_rev"]
            try:
                await self.couch.put(db, doc)
                return
            except Conflict:
                continue
