"""One writer at a time changes a box's messages, across processes and instances, when CouchDB keeps several
copies of each document (a cluster).

On a cluster two writers of one revision can each be kept by some copies and both be answered (docs/couchdb.md,
"Racing writers"); a move could then leave its message twice. A folder change, delete, move or new recording of
a box's messages therefore first takes the box's lock: a document `kazoo_vm_box_lock_<box id>` in the account
database, updated from free (or expired) to held only when a majority of its copies take the new revision,
which two writers never both get, and marked free after. Its state is its revision that reaches furthest on any
copy: a copy back from being down can still show an old one. A lock whose holder died expires after
TTL_SECONDS. Waiting ends after WAIT_SECONDS with a 409 that says so. A single CouchDB or PouchDB refuses the
second writer of a revision itself: there, nothing is locked. Kazoo's views ignore these documents.

A process's own requests for a box queue in it. While one waits, the request before it does not give the lock
back but passes it on within the process (three CouchDB requests fewer a turn), for at most CHAIN_SECONDS from
when the lock was taken, far inside TTL_SECONDS; then it is given back, and other processes get their chance.
The last request of the process to leave, whether it held the lock or gave up waiting for it, gives it back."""
from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

from ..storage import StorageError
from ..storage.store import Store
from .accounts import Account
from .errors import BoxBusy
from .keyed_locks import Busy, KeyedLocks
from .values import JSON

TYPE = "kazoo_vm_box_lock"
TTL_SECONDS = 60.0
WAIT_SECONDS = 20.0
CHAIN_SECONDS = 5.0
FIRST_PAUSE = 0.02
LONGEST_PAUSE = 0.5


def lock_id(box_id: str) -> str:
    return "kazoo_vm_box_lock_" + box_id


class BoxLocks:
    def __init__(self, store: Store):
        self.store = store
        self.holder = secrets.token_hex(8)
        self._local = KeyedLocks()
        self._passed: dict[str, JSON] = {}  # locks held for this process's next request of the box

    @asynccontextmanager
    async def hold(self, account: Account, box_id: str,
                   checked: Callable[[], Awaitable[object]] | None = None) -> AsyncIterator[None]:
        """The box's lock for the block; BoxBusy when it is not free within WAIT_SECONDS. `checked` runs first
        where there is a lock to take, so that a request it refuses (bad input) writes nothing, the lock
        included; the block checks again under the lock."""
        if not await self.store.replicated(account.db):
            yield
            return
        if checked is not None:
            await checked()
        deadline = time.monotonic() + WAIT_SECONDS
        key = f"{account.id}/{box_id}"
        async with AsyncExitStack() as stack:
            stack.push_async_callback(self._left, account, key)
            try:  # requests of this process queue here rather than poll CouchDB
                await stack.enter_async_context(self._local.hold(key, timeout=WAIT_SECONDS))
            except Busy:
                raise BoxBusy() from None
            lock = self._passed.pop(key, None) or await self._take(account, box_id, deadline)
            stack.push_async_callback(self._pass_on, account, lock, key)
            yield

    async def _pass_on(self, account: Account, lock: JSON, key: str) -> None:
        """Keep the lock for the next request of this process that waits for the box, within CHAIN_SECONDS of
        its taking; else give it back."""
        if self._local.waiting(key) and time.time() < float(lock["taken"]) + CHAIN_SECONDS:
            self._passed[key] = lock
        else:
            await asyncio.shield(self._give_back(account, lock))

    async def _left(self, account: Account, key: str) -> None:
        """A request of this process left the box (done, or tired of waiting): the last one gives back a lock
        passed on to a request that is no longer there."""
        if key in self._passed and not self._local.in_use(key):
            await asyncio.shield(self._give_back(account, self._passed.pop(key)))

    async def _take(self, account: Account, box_id: str, deadline: float) -> JSON:
        pause = FIRST_PAUSE
        while True:
            current = await self.store.furthest(account.db, lock_id(box_id))
            now = time.time()
            if current is None or current.get("_deleted") or float(current.get("expires") or 0) <= now:
                lock = {"_id": lock_id(box_id), "pvt_type": TYPE, "box_id": box_id, "holder": self.holder,
                        "taken": now, "expires": now + TTL_SECONDS}
                if current is not None and not current.get("_deleted"):
                    lock["_rev"] = current["_rev"]
                if await self.store.put_by_majority(account.db, lock):
                    return lock
            if time.monotonic() + pause > deadline:
                raise BoxBusy()
            await asyncio.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, LONGEST_PAUSE)

    async def _give_back(self, account: Account, lock: JSON) -> None:
        """Mark the lock free by a new revision: a revision of a live document is the same on every copy, where
        re-creating a deleted one builds on whichever tombstone each copy holds."""
        try:
            await self.store.put(account.db, {**lock, "holder": None, "expires": 0, "freed": time.time()})
        except StorageError:
            pass  # it expires
