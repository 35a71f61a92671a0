"""The one point every write of a message passes: a creation (the API, a copy, the new message of a move, the
legacy migration), a change (folder, audio, a folder given on first fetch) and a deletion (soft by the API,
hard for the original of a move). After each successful write the domain calls `MessageLifecycle.written`,
which hands the event to every listener in turn. Notifications and webhooks are meant to listen here.

Not reported: the `pvt_moved_to` mark a move puts on an original before copying it (bookkeeping that no
client sees). A move or migration that is run again reports the creations it finds already done again."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from .accounts import Account
from .values import JSON

log = logging.getLogger("kazoo_vm.lifecycle")


class Kind(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    DELETED = "deleted"


@dataclass(frozen=True)
class MessageEvent:
    account: Account
    message_id: str
    old: JSON | None  # the document before the write; None for a creation
    new: JSON | None  # the document as written; None for a hard delete
    kind: Kind


Listener = Callable[[MessageEvent], Awaitable[None]]


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
                      kind: Kind) -> None:
        """A message was written. A listener that fails is logged and skipped: the write has happened."""
        if not self._listeners:
            return
        event = MessageEvent(account, message_id, old, new, kind)
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception:  # noqa: BLE001 - one listener's bug must not fail the request or the others
                log.exception("message listener %r failed on %s %s", listener, kind, message_id)
