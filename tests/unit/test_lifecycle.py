"""The message lifecycle point and the lock table (voicemail/lifecycle.py, voicemail/keyed_locks.py): no CouchDB."""
import asyncio

import pytest

from kazoo_vm.voicemail.accounts import Account
from kazoo_vm.voicemail.keyed_locks import Busy, KeyedLocks
from kazoo_vm.voicemail.lifecycle import MESSAGE, VMBOX, Kind, MessageEvent, MessageLifecycle

ACCOUNT = Account("a" * 32, "Acme", "acme.example", (), None)


async def test_listeners_hear_every_write_and_a_failing_one_harms_nothing():
    lifecycle, heard = MessageLifecycle(), []

    async def broken(events: list[MessageEvent]) -> None:
        raise RuntimeError("bug")

    async def listener(events: list[MessageEvent]) -> None:
        heard.append([(event.message_id, event.kind, event.old, event.new, event.doc_type) for event in events])

    await lifecycle.written(ACCOUNT, "m", None, {"_id": "m"}, Kind.CREATED)  # nobody listens: nothing happens
    assert not lifecycle.listening
    lifecycle.subscribe(broken)
    lifecycle.subscribe(listener)
    await lifecycle.written(ACCOUNT, "m", {"_id": "m"}, None, Kind.DELETED)
    assert heard == [[("m", Kind.DELETED, {"_id": "m"}, None, MESSAGE)]]
    await lifecycle.written_all(MessageEvent(ACCOUNT, doc_id, None, {"_id": doc_id}, Kind.CREATED)
                                for doc_id in ("a", "b"))
    await lifecycle.written(ACCOUNT, "b1", None, {"_id": "b1"}, Kind.CREATED, VMBOX)
    await lifecycle.written_all([])  # nothing written: nobody is told
    assert heard[1:] == [[("a", Kind.CREATED, None, {"_id": "a"}, MESSAGE), ("b", Kind.CREATED, None, {"_id": "b"},
                                                                            MESSAGE)],
                         [("b1", Kind.CREATED, None, {"_id": "b1"}, VMBOX)]]  # one batch per call
    lifecycle.unsubscribe(listener)
    lifecycle.unsubscribe(broken)
    assert not lifecycle.listening


async def test_locks_serialise_a_key_and_are_forgotten_when_free():
    locks, order = KeyedLocks(), []

    async def hold(name: str) -> None:
        async with locks.hold("box"):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    await asyncio.gather(hold("a"), hold("b"))
    assert order == ["a in", "a out", "b in", "b out"] and len(locks) == 0
    async with locks.hold("box"):
        with pytest.raises(Busy):
            async with locks.hold("box", timeout=0.01):
                pass
    assert len(locks) == 0
