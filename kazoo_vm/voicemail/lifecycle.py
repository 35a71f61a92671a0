"""The one point every write of a message or a box passes. Messages: a creation (the API, a copy, the new
message of a move, the legacy migration), a change (folder, audio, a folder given on first fetch) and a
deletion (soft by the API, hard for the original of a move). Boxes (`vmbox`): a creation, a change (PUT, POST,
PATCH) and a soft delete through the API. After each successful write the domain calls
`MessageLifecycle.written`, or `written_all` once for the documents one request wrote together (a bulk change,
the creations of a move's batch), which hands the batch to every listener in turn before the request is
answered. Notifications and webhooks are meant to listen here (the webhooks record the revisions in the
event outbox, `kazoo_vm/webhooks/service.py`: one write per batch).

Not reported: the `pvt_moved_to` mark a move puts on an original before copying it (bookkeeping that no
client sees). A move or migration that is run again reports the creations it finds already done again."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from .accounts import Account
from .values import JSON

log = logging.getLogger("kazoo_vm.lifecycle")
MESSAGE = "mailbox_message"
VMBOX = "vmbox"


class Kind(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    DELETED = "deleted"


@dataclass(frozen=True)
class MessageEvent:
    account: Account
    message_id: str  # the document's id (a box's for a `vmbox`)
    old: JSON | None  # the document before the write; None for a creation (or when the writer kept none)
    new: JSON | None  # the document as written; None for a hard delete
    kind: Kind
    doc_type: str = MESSAGE  # or VMBOX


Listener = Callable[[list[MessageEvent]], Awaitable[None]]


class MessageLifecycle:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    @property
    def listening(self) -> bool:
        """Whether anyone listens: writers copy a document's old state only then."""
        return bool(self._listeners)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    async def written(self, account: Account, message_id: str, old: JSON | None, new: JSON | None,
                      kind: Kind, doc_type: str = MESSAGE) -> None:
        """One document was written."""
        await self.written_all([MessageEvent(account, message_id, old, new, kind, doc_type)])

    async def written_all(self, events: Iterable[MessageEvent]) -> None:
        """Documents were written together: each listener hears them as one batch. A listener that fails is
        logged and skipped: the writes have happened."""
        if not self._listeners:
            return
        batch = list(events)
        if not batch:
            return
        for listener in list(self._listeners):
            try:
                await listener(batch)
            except Exception:  # noqa: BLE001 - one listener's bug must not fail the request or the others
                log.exception("lifecycle listener %r failed on %d writes, the first %s %s", listener, len(batch),
                              batch[0].kind, batch[0].message_id)
