"""The event pipeline of one instance: CouchDB's feeds -> events -> hand-off to the dispatcher ->
checkpoint.

- Which databases: those of accounts that have hooks (`HookSet.watched`), in the partitions this instance
  holds (`leases`). With `_db_updates` (Apache CouchDB) one long-poll on it says which databases changed; a
  server without it (PouchDB Server) gets a bounded poll: every `events_poll_seconds`, one `_changes` read of
  each followed database.
- Each changed database is read from its checkpoint in batches of BATCH changes (one request each, never one
  per event); the batch's events are handed to the dispatcher, and only when all are settled is the
  checkpoint moved past them. A process killed at any point resumes from the last checkpoint: events after
  it are delivered again, with the same event_id.
- A database first followed starts from "now" (its current position) if it was there a lease round ago (one
  `_all_dbs` a round) or when the pipeline started: a new deployment or a new hook does not replay history.
  One made since (a new monthly database, a new account's) is read from its start.
- Messages and boxes written through any instance with events on, for an account followed here (by whichever
  instance holds it), are recorded in the event outbox (`outbox.py`) before the API answers. After each read of
  a database's feed that shows changes, the database's outbox revisions are classified first, in revision
  order, and deleted once their events are settled; then the feed's batch. Reading the outbox after the feed
  finds every revision whose request was answered before the feed showed a later one, so the feed cannot
  coalesce them, and the revisions the feed then shows are already known to the classifier's memory, so nothing
  is reported twice. A write always shows in the feed after the checkpoint, so this finds every record that
  still has to be reported; a record written after the feed read that reported its revision (or left by a
  holder that lost its lease or the account its hooks) is found by one outbox listing (ids only) per lease
  round, and cleared. The feed supplies what other writers did, and anything the outbox missed (see the
  README, "What a feed cannot show").
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..storage import StorageError
from ..storage.changes import Feeds, NoDbUpdates
from . import classify as classifier
from .checkpoints import Checkpoint, Checkpoints
from .discovery import databases_of
from .leases import RENEW_SECONDS, Leases, partition_of
from .memory import Memory
from .outbox import PAGE as OUTBOX_PAGE, Outbox, changes_of
from .records import Event

log = logging.getLogger("kazoo_vm.events")
BATCH = 200
READERS = 8  # databases read at the same time
WAIT_SECONDS = 25.0
RETRY_SECONDS = 1.0
Deliver = Callable[[list[Event]], Awaitable[None]]


class Pipeline:
    def __init__(self, feeds: Feeds, leases: Leases, watched: Callable[[], set[str]], deliver: Deliver,
                 retention_days: int, poll_seconds: float):
        self.feeds = feeds
        self.leases = leases
        self.watched = watched
        self.deliver = deliver
        self.retention_days = retention_days
        self.poll_seconds = poll_seconds
        self.checkpoints = Checkpoints(feeds)
        self.memory = Memory()
        self.known: dict[str, Checkpoint] = {}
        self.fresh: set[str] = set()  # created while followed: read from the start
        self.missing: set[str] = set()
        self.existing: set[str] | None = None  # the databases there were a lease round ago
        self.dirty: set[str] = set()
        self.outbox = Outbox(feeds)
        self.outbox_due: set[str] = set()  # databases whose outbox is read at their next read, even without changes
        self.reading: dict[str, asyncio.Task] = {}
        self.readers = asyncio.Semaphore(READERS)
        self.inflight: dict[int, float] = {}
        self.initialized: set[str] = set()
        self.mode = "starting"
        self.error: str | None = None
        self.tasks: list[asyncio.Task] = []
        self.batches = 0
        self.left_out: set[str] = set()  # event names another part raises itself (email: voicemail_saved)

    # lifecycle
    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self._guard(self._lease_loop)),
                      asyncio.create_task(self._guard(self._source_loop))]

    async def close(self) -> None:
        for task in [*self.tasks, *self.reading.values()]:
            task.cancel()
        await asyncio.gather(*self.tasks, *self.reading.values(), return_exceptions=True)
        try:
            await self.leases.release_all()
        except StorageError:
            pass

    def status(self) -> dict[str, Any]:
        oldest = min(self.inflight.values(), default=None)
        return {"running": bool(self.tasks) and not all(task.done() for task in self.tasks),
                "mode": self.mode, "partitions": sorted(n for n in self.leases.held if self.leases.holds(n)),
                "accounts_followed": len(self.initialized), "databases_followed": len(self.known),
                "batches_handed_off": self.batches,
                "oldest_undelivered_seconds": round(time.monotonic() - oldest, 3) if oldest is not None else 0.0,
                **({"error": self.error} if self.error else {})}

    async def _guard(self, loop: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await loop()
                return
            except asyncio.CancelledError:
                raise
            except Exception as failure:  # noqa: BLE001 - the pipeline must outlive CouchDB outages and bugs
                self.error = f"{type(failure).__name__}: {failure}"[:200]
                log.warning("event pipeline: %s", self.error)
                await asyncio.sleep(RETRY_SECONDS)

    # who follows what
    def _mine(self, account_id: str) -> bool:
        return account_id in self.watched() and self.leases.holds_account(account_id)

    async def _lease_loop(self) -> None:
        await self.feeds.ensure_events_db()
        while True:
            databases = set(await self.feeds.databases())
            if self.existing is None:
                self.existing = databases
            taken = await self.leases.renew()
            for checkpoint in await self.checkpoints.all() if taken else []:
                where = classifier.account_of(checkpoint.db)
                if where and partition_of(where[0]) in taken:
                    self.known[checkpoint.db] = checkpoint
                    self.mark(checkpoint.db)
            if taken:
                self.initialized = {a for a in self.initialized if partition_of(a) not in taken}
            await self.sync_watched()
            await self._scan_outbox()
            self.existing = databases
            self.error = None
            await asyncio.sleep(RENEW_SECONDS)

    async def sync_watched(self) -> None:
        """Accounts newly followed here get their databases' checkpoints (at "now" where there is none)."""
        for account_id in sorted(a for a in self.watched() if self._mine(a) and a not in self.initialized):
            for db in databases_of(account_id, self.retention_days):
                await self._checkpoint_of(db)
            self.initialized.add(account_id)
        self.initialized &= self.watched()

    # which databases changed
    async def _source_loop(self) -> None:
        await self.feeds.ensure_events_db()
        try:
            since = (await self.feeds.db_updates("now", 0.001)).last_seq
        except NoDbUpdates:
            self.mode = "poll"
            await self._poll()
            return
        self.mode = "db_updates"
        while True:
            batch = await self.feeds.db_updates(since, WAIT_SECONDS)
            for update in batch.results:
                db = update.get("db_name", "")
                where = classifier.account_of(db)
                if where is None or not self._mine(where[0]):
                    continue
                if update.get("type") == "created":
                    self.fresh.add(db)
                    self.missing.discard(db)
                if update.get("type") in ("created", "updated"):
                    self.mark(db)
            since = batch.last_seq

    async def _poll(self) -> None:
        while True:
            for account_id in sorted(self.watched()):
                if self._mine(account_id):
                    for db in databases_of(account_id, self.retention_days):
                        self.mark(db)
            await asyncio.sleep(self.poll_seconds)

    # reading one database
    def written_here(self, db: str) -> None:
        """A document of `db` was written through this instance (its revision recorded in the outbox, or a hard
        delete, whose tombstone the feed shows): when this instance reports the account, the database is read at
        once (its feed shows the write, so its outbox is read too)."""
        where = classifier.account_of(db)
        if where is not None and self._mine(where[0]):
            self.mark(db)

    async def _scan_outbox(self) -> None:
        """Once a lease round: the databases of this instance's accounts that have outbox records its reads did
        not take (written after the feed read that reported their revisions, or left by a previous holder) are
        read, outbox first."""
        try:
            pending = await self.outbox.pending()
        except StorageError as failure:
            self.error = f"outbox: {failure}"[:200]
            log.warning("cannot list the event outbox: %s", failure)
            return
        for db in pending:
            where = classifier.account_of(db)
            if where is not None and self._mine(where[0]):
                self.outbox_due.add(db)
                self.mark(db)

    def mark(self, db: str) -> None:
        self.dirty.add(db)
        if db not in self.reading or self.reading[db].done():
            self.reading[db] = asyncio.create_task(self._follow(db))

    async def _follow(self, db: str) -> None:
        async with self.readers:
            while db in self.dirty:
                self.dirty.discard(db)
                try:
                    await self._read(db)
                except StorageError as failure:
                    self.error = f"{db}: {failure}"[:200]
                    log.warning("cannot read the feed of %s: %s", db, failure)
                    return

    async def _checkpoint_of(self, db: str) -> Checkpoint | None:
        """The database's checkpoint; a database followed for the first time starts at "now" if it was there a
        lease round ago (or when the pipeline started), else at its start: a new account's databases, made
        before the account is first followed (within RENEW_SECONDS), lose nothing, and a new hook replays at
        most one round. None when it does not exist yet: it will be read from its start once it does."""
        if db in self.known:
            return self.known[db]
        checkpoint = await self.checkpoints.load(db)
        if checkpoint is None:
            if db in self.fresh or db in self.missing or (self.existing is not None and db not in self.existing):
                since: Any = 0
            else:
                since = await self.feeds.now(db)
                if since is None:
                    self.missing.add(db)
                    return None
            checkpoint = Checkpoint(db, since)
            await self.checkpoints.save(checkpoint, since)
        self.known[db] = checkpoint
        self.fresh.discard(db)
        return checkpoint

    async def _hand_off(self, db: str, account_id: str, changes: list[dict[str, Any]], seen_at: float) -> None:
        """Classify changes (a feed batch, or outbox revisions) and return once their events are settled."""
        events = [Event(raised.event_id, raised.hook, raised.name, account_id, raised.doc_type, raised.doc_id,
                        raised.payload, seen_at)
                  for change in changes for raised in classifier.classify(db, change, self.memory)
                  if raised.name not in self.left_out]
        if events:
            key = id(events)
            self.inflight[key] = seen_at
            try:
                await self.deliver(events)
            finally:
                self.inflight.pop(key, None)

    async def _read(self, db: str) -> None:
        where = classifier.account_of(db)
        if where is None or not self._mine(where[0]):
            self.outbox_due.discard(db)  # the partition went: its new holder reads the feed and the outbox
            return
        checkpoint = await self._checkpoint_of(db)
        if checkpoint is None:
            if db in self.outbox_due:
                await self._drain_outbox(db, where[0])
            return
        while True:
            batch = await self.feeds.changes(db, checkpoint.since, BATCH)
            if batch is None:
                self.missing.add(db)
                self.known.pop(db, None)
                return
            if batch.results or db in self.outbox_due:
                # read after the feed: a revision whose request was answered before the feed showed a later one
                # is there, and comes first
                await self._drain_outbox(db, where[0])
            await self._hand_off(db, where[0], batch.results, time.monotonic())
            if not self.leases.holds_account(where[0]):
                return  # the lease went meanwhile: the new holder resumes from the last checkpoint
            if batch.last_seq != checkpoint.since:
                await self.checkpoints.save(checkpoint, batch.last_seq)
            self.batches += 1
            if len(batch.results) < BATCH:
                return

    async def _drain_outbox(self, db: str, account_id: str) -> None:
        """Classify the database's outbox revisions and hand their events off; only then delete them (a process
        killed before reports them again, with the same event_ids)."""
        self.outbox_due.discard(db)
        while True:
            docs = await self.outbox.of(db)
            if not docs:
                return
            await self._hand_off(db, account_id, changes_of(docs), time.monotonic())
            await self.outbox.drop(docs)
            if len(docs) < OUTBOX_PAGE:
                return
