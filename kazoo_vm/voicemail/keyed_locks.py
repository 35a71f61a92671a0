"""One asyncio lock per key (an account, a box), kept only while someone holds or waits for it, so that the
table never grows beyond the keys in use."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Busy(Exception):
    """The lock was not free in time."""


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    def waiting(self, key: str) -> int:
        """How many wait for `key` besides its holder."""
        return max(self._locks.get(key, (None, 0))[1] - 1, 0)

    def in_use(self, key: str) -> bool:
        """Whether anyone holds or waits for `key`."""
        return key in self._locks

    @asynccontextmanager
    async def hold(self, key: str, timeout: float | None = None) -> AsyncIterator[None]:
        """The lock of `key` for the block; Busy when it is not free within `timeout` seconds."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(timeout):
                    await lock.acquire()
            except TimeoutError:
                raise Busy() from None
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
