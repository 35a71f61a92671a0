"""The webhooks side of one service process: hook documents and the attempt log (the API's), and, when
events are on (`KAZOO_VM_EVENTS`), the hooks in force, the dispatcher and the event pipeline, on a CouchDB
connection pool of their own (feeds never wait behind API requests, nor the reverse)."""
from __future__ import annotations

import asyncio
import copy
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..config import Settings
from ..events.leases import Leases
from ..events.outbox import Outbox
from ..events.pipeline import Pipeline
from ..storage import CouchClient, StorageError
from ..storage.changes import Feeds
from ..storage.store import Store
from ..voicemail.accounts import Accounts
from ..voicemail.lifecycle import VMBOX, Kind, MessageEvent, MessageLifecycle
from ..voicemail.message_docs import db_of
from .attempts import Attempts
from .dispatcher import Dispatcher
from .hooks import Hooks
from .matching import HookSet

log = logging.getLogger("kazoo_vm.webhooks")


class Consumer(Protocol):
    """What else takes the pipeline's events: the accounts it needs followed, and each batch."""

    changed: list[Callable[[], None]]  # called when watched() changes
    raises: set[str]  # event names it raises itself, through the dispatcher it is given (`attach`)

    def attach(self, deliver: Callable[[list], Awaitable[None]]) -> None: ...

    def watched(self) -> set[str]: ...

    async def accept(self, events: list) -> None: ...


class Webhooks:
    def __init__(self, settings: Settings, store: Store, instance: str | None = None,
                 lifecycle: MessageLifecycle | None = None, also: "Consumer | None" = None):
        self.settings = settings
        self.also = also  # another taker of the pipeline's events (email: kazoo_vm/notifications)
        self.lifecycle = lifecycle
        self.store = store
        self.hooks = Hooks(store, settings.webhook_refuse_private, settings.page_size)
        self.attempts = Attempts(store)
        # one per process: `serve --workers N` runs several processes on one port
        self.instance = instance or f"{socket.gethostname()}:{settings.port}:{os.getpid()}"
        self.pipeline: Pipeline | None = None
        self.outbox = Outbox(Feeds(store.client))  # written on the API's connections, as part of its requests
        self._tasks: list[asyncio.Task] = []
        self._client: CouchClient | None = None
        self.dispatcher: Dispatcher | None = None
        self.hookset: HookSet | None = None

    async def start(self) -> None:
        await self.hooks.install()
        if self.settings.events:
            self._start_events()

    def _start_events(self) -> None:
        self._client = CouchClient(self.settings.couchdb_url, timeout=self.settings.couch_timeout,
                                   write_quorum=self.settings.write_quorum)
        store = Store(self._client)
        feeds = Feeds(self._client)
        accounts = Accounts(store)
        hookset = self.hookset = HookSet(store, feeds, lambda account_id: _tree(accounts, account_id))
        self.dispatcher = Dispatcher(self.settings, hookset, Hooks(store, self.settings.webhook_refuse_private),
                                     Attempts(store))
        self.pipeline = Pipeline(feeds, Leases(feeds, self.instance), self._watched, self._deliver,
                                 self.settings.retention_days, self.settings.events_poll_seconds)
        hookset.changed.append(lambda: self._tasks.append(asyncio.create_task(self._sync())))
        if self.also is not None:
            self.also.changed.append(lambda: self._tasks.append(asyncio.create_task(self._sync())))
            self.pipeline.left_out = set(self.also.raises)
            self.also.attach(self.dispatcher.deliver)
        self._tasks.append(asyncio.create_task(hookset.run()))
        self._tasks.append(asyncio.create_task(self.pipeline.start()))
        if self.lifecycle is not None:
            self.lifecycle.subscribe(self._written)

    def _watched(self) -> set[str]:
        watched = self.hookset.watched if self.hookset is not None else set()
        return watched | self.also.watched() if self.also is not None else watched

    async def _deliver(self, events: list) -> None:
        """A batch is handed off once the hooks have it and the other taker has stored what it needs."""
        if self.also is None:
            await self.dispatcher.deliver(events)
            return
        await asyncio.gather(self.dispatcher.deliver(events), self.also.accept(events))

    async def _written(self, events: list[MessageEvent]) -> None:
        """The lifecycle point, before the API answers: the revisions of messages and boxes written through
        this instance, for accounts the pipeline follows (those with hooks, which every instance with events on
        knows; with email on, every account), are recorded in the event outbox, one request for the batch, for
        the instance holding the account's partition to report each of them (a feed, which shows only the
        newest revision, would coalesce a folder change and a delete that follow each other; a killed process
        loses none). Other accounts cost nothing. A hard delete (the original of a move) is not recorded: it
        leaves a tombstone, which the feed always shows."""
        pipeline = self.pipeline
        if pipeline is None:
            return
        watched = self._watched()
        recorded: list[tuple[str, str, dict[str, Any]]] = []
        woken: set[str] = set()
        for event in events:
            if event.account.id not in watched:
                continue
            db = event.account.db if event.doc_type == VMBOX else db_of(event.account, event.message_id)
            doc = event.new
            if doc is None or not doc.get("_rev"):
                woken.add(db)
                continue
            if event.kind == Kind.CREATED and "_attachments" not in doc and _generation(doc["_rev"]) > 1:
                # a message created in two steps (the document, then its audio): the stored revision has the stubs
                try:
                    doc = await self.store.revision(db, event.message_id, doc["_rev"])
                except StorageError:
                    doc = None
                if doc is None:
                    woken.add(db)
                    continue
            recorded.append((event.account.id, db, _without_audio(doc)))
        try:
            await self.outbox.record(recorded)
        except StorageError as failure:  # the writes are done: the feed still reports their newest revisions
            log.warning("could not record %d revisions in the event outbox: %s", len(recorded), failure)
            woken.update(db for _, db, _ in recorded)
            recorded = []
        for db in woken | {db for _, db, _ in recorded}:
            pipeline.written_here(db)

    async def _sync(self) -> None:
        try:
            await self.pipeline.sync_watched()
        except StorageError as failure:
            log.warning("event pipeline: %s", failure)

    def status(self) -> dict[str, Any]:
        if self.pipeline is None:
            return {"running": False, "mode": "off"}
        status = self.pipeline.status()
        if self.dispatcher is not None:
            status.update(delivered=self.dispatcher.delivered, failed_attempts=self.dispatcher.failed)
        return status

    async def close(self) -> None:
        if self.lifecycle is not None and self.pipeline is not None:
            self.lifecycle.unsubscribe(self._written)
        if self.pipeline is not None:
            await self.pipeline.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.dispatcher is not None:
            await self.dispatcher.close()
        if self._client is not None:
            await self._client.close()


def _without_audio(doc: dict[str, Any]) -> dict[str, Any]:
    """A copy of a written document for the outbox: attachments as stubs, never the audio a move or a
    migration sends inline (an outbox document stays small)."""
    copied = copy.deepcopy({key: value for key, value in doc.items() if key != "_attachments"})
    if "_attachments" in doc:
        copied["_attachments"] = {name: {key: value for key, value in stub.items() if key != "data"}
                                  for name, stub in (doc["_attachments"] or {}).items()}
    return copied


def _generation(rev: str) -> int:
    head = rev.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


async def _tree(accounts: Accounts, account_id: str) -> tuple[str, ...]:
    try:
        return (await accounts.get(account_id)).tree
    except Exception:  # noqa: BLE001 - a deleted or unreadable account has no ancestors to notify
        return ()
