"""Who reads which feeds when several instances share a CouchDB. Accounts are spread over PARTITIONS
partitions (by account id); an instance reads the databases of the partitions it holds a lease on. A lease is
a document `lease:<n>` of `kazoo_vm_events` with its holder and an expiry (wall clock: instances need clocks
within a few seconds of each other), renewed every RENEW_SECONDS; a dead instance's leases expire after
TTL_SECONDS and another takes them, so its feeds move within TTL + RENEW (20 s). Each instance takes about its
share (partitions / live instances, from `instance:<id>` heartbeats), so the work spreads; a lease write that
conflicts means another instance got there first. CouchDB's revisions make each lease have one holder."""
from __future__ import annotations

import logging
import math
import secrets
import time
import zlib

from ..storage import Conflict, StorageError
from ..storage.changes import Feeds

log = logging.getLogger("kazoo_vm.events")
PARTITIONS = 16
TTL_SECONDS = 15.0
RENEW_SECONDS = 5.0
MARGIN_SECONDS = 3.0  # stop reading this long before a lease would expire


def partition_of(account_id: str) -> int:
    return zlib.crc32(account_id.encode()) % PARTITIONS


class Leases:
    def __init__(self, feeds: Feeds, instance: str | None = None):
        self.feeds = feeds
        self.instance = instance or secrets.token_hex(8)
        self.held: dict[int, float] = {}  # partition -> expiry (wall clock)
        self.free_before: set[int] = set()

    def holds(self, partition: int) -> bool:
        return self.held.get(partition, 0.0) - MARGIN_SECONDS > time.time()

    def holds_account(self, account_id: str) -> bool:
        return self.holds(partition_of(account_id))

    async def renew(self) -> set[int]:
        """Heartbeat, renew what is held, take or give up partitions towards this instance's share.
        Returns the partitions newly taken (their feeds need a catch-up)."""
        now = time.time()
        await self._heartbeat(now)
        alive = [doc for doc in await self.feeds.states("instance:") if doc.get("expires", 0) > now]
        share = math.ceil(PARTITIONS / max(1, len(alive)))
        leases = {doc["_id"]: doc for doc in await self.feeds.states("lease:")}
        taken: set[int] = set()
        mine = [n for n in range(PARTITIONS) if (leases.get(f"lease:{n}") or {}).get("holder") == self.instance
                and leases[f"lease:{n}"].get("expires", 0) > now]
        for n in mine[share:]:
            await self._release(leases[f"lease:{n}"])
        for n in mine[:share]:
            await self._write(n, leases.get(f"lease:{n}"), now)
        free = {n for n in range(PARTITIONS) if n not in self.held
                and not ((leases.get(f"lease:{n}") or {}).get("expires", 0) > now)}
        for n in sorted(free):
            # beyond its share an instance takes only what stayed free since its last renewal: no partition
            # waits for a heartbeat to expire, and the instances still spread evenly
            if len([p for p in self.held if self.holds(p)]) >= share and n not in self.free_before:
                continue
            if await self._write(n, leases.get(f"lease:{n}"), now):
                taken.add(n)
        self.free_before = free - taken
        for n in [p for p, expires in self.held.items() if expires <= now]:
            del self.held[n]
        return taken

    async def release_all(self) -> None:
        for n in list(self.held):
            for _ in range(3):
                doc = await self.feeds.state(f"lease:{n}")
                if not doc or doc.get("holder") != self.instance or await self._release(doc):
                    break
        self.held.clear()
        doc = await self.feeds.state(f"instance:{self.instance}")
        if doc:
            await self.feeds.drop_state(doc)

    async def _heartbeat(self, now: float) -> None:
        doc = await self.feeds.state(f"instance:{self.instance}") or {"_id": f"instance:{self.instance}"}
        doc["expires"] = now + TTL_SECONDS
        try:
            await self.feeds.save_state(doc)
        except Conflict:
            pass

    async def _write(self, n: int, doc: dict | None, now: float) -> bool:
        new = {**(doc or {}), "_id": f"lease:{n}", "holder": self.instance, "expires": now + TTL_SECONDS}
        try:
            await self.feeds.save_state(new)
        except Conflict:
            self.held.pop(n, None)
            return False
        except StorageError as failure:
            log.warning("could not renew lease %s: %s", n, failure)
            return False
        self.held[n] = now + TTL_SECONDS
        return True

    async def _release(self, doc: dict) -> bool:
        n = int(doc["_id"].split(":", 1)[1])
        self.held.pop(n, None)
        try:
            await self.feeds.save_state({**doc, "holder": None, "expires": 0})
        except Conflict:
            return False
        return True
