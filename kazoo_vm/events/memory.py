"""What the pipeline remembers of the documents it has seen (bounded, least recently seen dropped first):
enough to tell a creation from an edit, an audio arrival from a metadata change, and not to report a
soft delete twice, when a feed shows only each document's newest revision."""
from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

CAPACITY = 50_000


@dataclass(frozen=True)
class Seen:
    generation: int
    digest: str  # of the document without `_rev` and `_attachments`
    has_audio: bool
    deleted: bool
    doc_type: str


def digest(doc: dict[str, Any]) -> str:
    body = {key: value for key, value in doc.items() if key not in ("_rev", "_attachments")}
    return hashlib.sha1(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Memory:
    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._seen: OrderedDict[tuple[str, str], Seen] = OrderedDict()

    def get(self, db: str, doc_id: str) -> Seen | None:
        return self._seen.get((db, doc_id))

    def remember(self, db: str, doc_id: str, seen: Seen) -> None:
        key = (db, doc_id)
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def forget_db(self, db: str) -> None:
        for key in [key for key in self._seen if key[0] == db]:
            del self._seen[key]

    def __len__(self) -> int:
        return len(self._seen)
