"""An event: what happened to one document, for one kind of hook, with the id that stays the same every
time the same change is delivered."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

OBJECT = "object"
NOTIFICATIONS = "notifications"


@dataclass(frozen=True)
class Event:
    event_id: str
    hook: str  # "object" or "notifications"
    name: str  # doc_created / doc_edited / doc_deleted, or voicemail_new / voicemail_saved
    account_id: str
    doc_type: str  # mailbox_message or vmbox
    doc_id: str
    payload: dict[str, Any]
    seen_at: float  # monotonic time the pipeline read it (health: lag of the oldest undelivered)

    @property
    def ordering_key(self) -> str:
        """Events with the same key are delivered to a hook in the order they happened (one message, one box)."""
        return self.doc_id


def event_id(db: str, doc_id: str, version: str, name: str) -> str:
    """Stable: the same database, document, version of what changed and event name give the same id on every
    delivery. `version` is whatever makes one change of the document one event, whichever revision shows it
    (see `classify.version_of`)."""
    return hashlib.sha256(f"{db}\n{doc_id}\n{version}\n{name}".encode()).hexdigest()[:32]
