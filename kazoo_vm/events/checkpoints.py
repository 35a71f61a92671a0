"""Where each followed database's feed is: a document `checkpoint:<db>` of `kazoo_vm_events` with the
position up to which every event has been handed off (delivered, or given up and logged). Written only by
the instance holding the database's partition, only after hand-off; read back at start and on takeover."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..storage import Conflict
from ..storage.changes import Feeds, Seq

PREFIX = "checkpoint:"


@dataclass
class Checkpoint:
    db: str
    since: Seq
    doc: dict[str, Any] = field(default_factory=dict)


class Checkpoints:
    def __init__(self, feeds: Feeds):
        self.feeds = feeds

    async def load(self, db: str) -> Checkpoint | None:
        doc = await self.feeds.state(PREFIX + db)
        return Checkpoint(db, doc["since"], doc) if doc else None

    async def all(self) -> list[Checkpoint]:
        return [Checkpoint(doc["db"], doc["since"], doc) for doc in await self.feeds.states(PREFIX) if "db" in doc]

    async def save(self, checkpoint: Checkpoint, since: Seq) -> None:
        """Move the checkpoint; a concurrent writer's document is read again and overwritten (the holder wins)."""
        for _ in range(3):
            doc = {**checkpoint.doc, "_id": PREFIX + checkpoint.db, "db": checkpoint.db, "since": since}
            try:
                checkpoint.doc = await self.feeds.save_state(doc)
                checkpoint.since = since
                return
            except Conflict:
                checkpoint.doc = await self.feeds.state(PREFIX + checkpoint.db) or {}
        raise Conflict(f"checkpoint of {checkpoint.db} kept changing")
