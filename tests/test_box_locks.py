"""A box's lock (voicemail/box_locks.py, docs/couchdb.md "Racing writers"): on a cluster one writer at a time
changes a box's messages, whichever instance it goes through. Its base, a write that only a majority of the copies
may take, is tested on every target: racing writers of one document never both win."""
from __future__ import annotations

import asyncio
import time

import pytest

from kazoo_vm.storage.couch import RETRACTED
from kazoo_vm.storage.dbnames import account_db, encoded
from kazoo_vm.storage.store import Store
from kazoo_vm.voicemail import box_locks
from kazoo_vm.voicemail.accounts import Account
from message_helpers import create_message, modb_of, stored
from test_cluster_faults import cluster_nodes
from test_racing_writers import leaves

ROUNDS = 30
WRITERS = 4


async def test_racing_writers_by_majority_never_both_win(couch, scratch_db):
    for round_ in range(ROUNDS):
        doc_id = f"lock-{round_}"
        won = await asyncio.gather(*(couch.put_by_majority(scratch_db, {"_id": doc_id, "writer": writer})
                                     for writer in range(WRITERS)))
        assert won.count(True) <= 1, f"round {round_}: {won}"
        if True not in won:  # each copy kept another writer: every one gave its write up, to wait and try again
            continue
        stored = await couch.get(scratch_db, doc_id)
        assert stored["writer"] == won.index(True), f"round {round_}: the stored lock is the winner's"
        # the next holder takes it over by its revision: again at most one of the racing writers
        won = await asyncio.gather(*(couch.put_by_majority(scratch_db, {**stored, "writer": WRITERS + writer})
                                     for writer in range(WRITERS)))
        assert won.count(True) <= 1, f"round {round_}, take-over: {won}"


async def lock_docs(couch, account_id: str) -> list[dict]:
    rows = (await couch.request("GET", f"{encoded(account_db(account_id))}/_all_docs",
                                params={"startkey": '"kazoo_vm_box_lock_"', "endkey": '"kazoo_vm_box_lock_\ufff0"',
                                        "include_docs": "true"}))["rows"]
    return [row["doc"] for row in rows]


async def held_by(couch, api, box: dict, holder: str, taken: float = 0.0, expires: float = 60.0) -> None:
    """The box's lock as another process holds it: taken and expiring that many seconds from now."""
    now = time.time()
    await couch.put(account_db(api.account_id), {"_id": box_locks.lock_id(box["id"]), "pvt_type": box_locks.TYPE,
                                                 "box_id": box["id"], "holder": holder, "taken": now + taken,
                                                 "expires": now + expires})


async def held_locks(couch, account_id: str) -> list[dict]:
    return [doc for doc in await lock_docs(couch, account_id) if doc.get("holder") is not None]


async def test_the_furthest_revision_counts_not_couchdbs_preference_for_live_ones(couch, scratch_db):
    # what a copy back from being down shows beside the others: a live revision they have since deleted
    await couch.request("POST", f"{encoded(scratch_db)}/_bulk_docs", body={"new_edits": False, "docs": [
        {"_id": "lock", "_rev": "1-aaaa", "holder": "old"},
        {"_id": "lock", "_rev": "2-bbbb", "_deleted": True, "_revisions": {"start": 2, "ids": ["bbbb", "cccc"]}},
        {"_id": "lock", "_rev": "3-dddd", "_deleted": True, RETRACTED: True,
         "_revisions": {"start": 3, "ids": ["dddd", "eeee", "ffff"]}}]})
    assert (await couch.get(scratch_db, "lock"))["holder"] == "old", "CouchDB prefers the live revision"
    furthest = await couch.furthest(scratch_db, "lock")
    assert furthest["_rev"] == "2-bbbb" and furthest["_deleted"], "a retraction does not count"
    assert await couch.furthest(scratch_db, "never-written") is None


@pytest.fixture
async def clustered(couch):
    if await cluster_nodes(couch) < 2:
        pytest.skip("a single CouchDB refuses the second writer of a revision itself: no box is locked")


async def test_a_change_takes_the_box_lock_and_gives_it_back(api, couch, clustered):
    box = await api.create_box()
    message_id = (await create_message(api, box["id"]))["media_id"]
    db = account_db(api.account_id)
    assert await lock_docs(couch, api.account_id) == []

    changed = await api.post(f"/vmboxes/{box['id']}/messages/{message_id}", json={"data": {"folder": "saved"}})
    assert changed.status == 200 and changed.data["folder"] == "saved"
    [lock] = await lock_docs(couch, api.account_id)
    assert lock["holder"] is None and lock["expires"] == 0, "the lock is given back"
    history = await leaves(couch, db, box_locks.lock_id(box["id"]))
    assert [leaf["_rev"][:2] for leaf in history] == ["2-"], "taken once, then freed, with no other branch"

    again = await api.post(f"/vmboxes/{box['id']}/messages/{message_id}", json={"data": {"folder": "new"}})
    assert again.status == 200 and again.data["folder"] == "new"
    history = await leaves(couch, db, box_locks.lock_id(box["id"]))
    assert [leaf["_rev"][:2] for leaf in history] == ["4-"], "taken from free by its revision, then freed"
    assert await held_locks(couch, api.account_id) == []


async def test_an_expired_lock_of_a_dead_holder_is_taken_over(api, couch, clustered):
    box = await api.create_box()
    message_id = (await create_message(api, box["id"]))["media_id"]
    await held_by(couch, api, box, "dead", taken=-120, expires=-60)

    deleted = await api.delete(f"/vmboxes/{box['id']}/messages/{message_id}")
    assert deleted.status == 200 and deleted.data["folder"] == "deleted"
    assert await held_locks(couch, api.account_id) == []


async def test_a_box_held_longer_than_a_request_waits_answers_409_and_changes_nothing(api, couch, clustered,
                                                                                  monkeypatch):
    monkeypatch.setattr(box_locks, "WAIT_SECONDS", 1.0)
    box = await api.create_box()
    message_id = (await create_message(api, box["id"]))["media_id"]
    await held_by(couch, api, box, "busy")

    refused = await api.post(f"/vmboxes/{box['id']}/messages",
                             json={"data": {"messages": [message_id], "folder": "saved"}})
    assert refused.status == 409
    assert refused.json["error"] == "409" and refused.json["message"] == "datastore_conflict"
    assert refused.data == {"message": "another change to this box's messages is still running; try again"}
    stored = (await api.get(f"/vmboxes/{box['id']}/messages/{message_id}")).data
    assert stored["folder"] == "new", "nothing changed"
    [held] = await lock_docs(couch, api.account_id)
    assert held["holder"] == "busy", "the holder's lock is left alone"


async def without_folder(couch, api, box: dict) -> str:
    """A message as Kazoo may leave it: no folder (the service gives it `new` when it is fetched)."""
    message_id = (await create_message(api, box["id"]))["media_id"]
    doc = await stored(couch, api, message_id)
    del doc["metadata"]["folder"]
    await couch.put(modb_of(api, message_id), doc)
    return message_id


async def test_a_fetch_that_gives_a_message_its_folder_saves_it_under_the_box_lock(api, couch, clustered):
    box = await api.create_box()
    message_id = await without_folder(couch, api, box)

    fetched = await api.get(f"/vmboxes/{box['id']}/messages/{message_id}")
    assert fetched.status == 200 and fetched.data["folder"] == "new"
    assert (await stored(couch, api, message_id))["metadata"]["folder"] == "new"
    history = await leaves(couch, account_db(api.account_id), box_locks.lock_id(box["id"]))
    assert [leaf["_rev"][:2] for leaf in history] == ["2-"], "taken, then freed: a folder change cannot race it"
    assert await held_locks(couch, api.account_id) == []


async def test_a_fetch_while_the_box_is_busy_serves_new_and_saves_nothing(api, couch, clustered, monkeypatch):
    monkeypatch.setattr(box_locks, "WAIT_SECONDS", 1.0)
    box = await api.create_box()
    message_id = await without_folder(couch, api, box)
    await held_by(couch, api, box, "busy")

    fetched = await api.get(f"/vmboxes/{box['id']}/messages/{message_id}")
    assert fetched.status == 200 and fetched.data["folder"] == "new", "a read does not fail for a busy box"
    assert "folder" not in (await stored(couch, api, message_id))["metadata"], "nothing saved without the lock"
    [held] = await lock_docs(couch, api.account_id)
    assert held["holder"] == "busy", "the holder's lock is left alone"


async def test_requests_queued_in_one_process_pass_the_lock_on_instead_of_taking_it_each(api, couch, clustered):
    box = await api.create_box()
    messages = [(await create_message(api, box["id"]))["media_id"] for _ in range(8)]

    changed = await asyncio.gather(*(api.post(f"/vmboxes/{box['id']}/messages/{message_id}",
                                              json={"data": {"folder": "saved"}}) for message_id in messages))
    assert [response.status for response in changed] == [200] * 8
    assert {(await stored(couch, api, message_id))["metadata"]["folder"] for message_id in messages} == {"saved"}
    [lock] = await lock_docs(couch, api.account_id)
    assert lock["holder"] is None and lock["expires"] == 0, "given back once the queue is done"
    takes = int(lock["_rev"].split("-")[0]) // 2
    assert takes < 8, f"taken and given back {takes} times for 8 queued changes: each took it for itself"


async def test_a_lock_passed_on_to_a_request_that_went_away_is_given_back(api, couch, couch_url, settings, clustered):
    box = await api.create_box()
    account = Account(api.account_id, "", "", (), None)
    store = Store.connect(couch_url, timeout=10.0, write_quorum=settings.write_quorum)
    locks = box_locks.BoxLocks(store)
    try:
        async def waiting() -> None:
            async with locks.hold(account, box["id"]):
                raise AssertionError("the waiting request was cancelled before its turn")

        async with locks.hold(account, box["id"]):
            waiter = asyncio.create_task(waiting())
            while not locks._local.waiting(f"{account.id}/{box['id']}"):
                await asyncio.sleep(0.01)
            waiter.cancel()  # still counted as waiting when the holder leaves: the lock is passed on to it
        with pytest.raises(asyncio.CancelledError):
            await waiter
    finally:
        await store.close()
    [lock] = await lock_docs(couch, api.account_id)
    assert lock["holder"] is None and lock["expires"] == 0, "the request that left last gave it back"
    assert locks._passed == {}
