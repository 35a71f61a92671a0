"""The event loop `kazoo-vm serve` runs on: uvloop's (libuv's sockets and timers, written in C) unless
KAZOO_VM_UVLOOP is false. Every request is a handful of socket reads and writes on the loop, to the client and
to CouchDB, and uvloop does each for less CPU than asyncio's own loop (README, "Performance")."""
from __future__ import annotations

import asyncio

try:
    import uvloop
except ImportError:  # not installed where it has no wheel (Windows): asyncio's loop
    uvloop = None


def kind(use_uvloop: bool) -> str:
    """The loop `choose(use_uvloop)` gives: "uvloop" when asked for and installed, else "asyncio"."""
    return "uvloop" if use_uvloop and uvloop is not None else "asyncio"


def choose(use_uvloop: bool) -> None:
    """The loops this process creates from now on: `kind(use_uvloop)`."""
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy() if kind(use_uvloop) == "uvloop" else None)


def running() -> str:
    """The name of the running loop's kind, for the start-up log."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"
