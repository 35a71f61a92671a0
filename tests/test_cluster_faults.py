"""A node of a 3-node Apache CouchDB cluster dies while clients create, list, download, move and delete
messages (docs/couchdb.md): every request gets a correct answer, no 5xx, no message is lost or duplicated,
and once the node is back every listing agrees with what the clients were told.

It needs a 3-node cluster it may stop nodes of: KAZOO_VM_COUCHDB_URL names node 1 of it and
KAZOO_VM_TEST_COUCHDB_SCRIPT the script that runs it, with the commands `kill-node N --port P` and
`start-node N --port P` (CI passes the `couchdb` script it started the cluster with). Elsewhere it is skipped.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass, field

import pytest
from yarl import URL

from bulk_helpers import audio_message, listed
from message_helpers import audio_bytes

SCRIPT = os.environ.get("KAZOO_VM_TEST_COUCHDB_SCRIPT")
WORKERS = 4
SETTLE_SECONDS = 60


async def cluster_nodes(couch) -> int:
    """How many nodes the CouchDB under test has in its cluster (0 for PouchDB Server)."""
    try:
        return len((await couch.request("GET", "_membership"))["cluster_nodes"])
    except Exception:  # PouchDB Server has no _membership
        return 0


@pytest.fixture
async def cluster(couch, couch_url):
    if not SCRIPT or not os.environ.get("KAZOO_VM_COUCHDB_URL"):
        pytest.skip("needs a 3-node cluster and KAZOO_VM_TEST_COUCHDB_SCRIPT (CI's cluster target)")
    if await cluster_nodes(couch) != 3:
        pytest.skip("KAZOO_VM_COUCHDB_URL is not a 3-node cluster")
    port = str(URL(couch_url).port)

    async def node(command: str, number: int) -> None:
        process = await asyncio.create_subprocess_exec(SCRIPT, command, str(number), "--port", port,
                                                       stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.PIPE)
        _, err = await process.communicate()
        assert process.returncode == 0, err.decode()

    yield node
    await node("start-node", 2)  # never leave the cluster short of a node for the tests after this one


@dataclass
class Ledger:
    """What the clients were told: each message's box (None once deleted), and every failure."""
    boxes: dict[str, str | None] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    requests: int = 0

    def check(self, what: str, response, expected: int) -> bool:
        self.requests += 1
        if response.status != expected:
            self.failures.append(f"{what}: {response.status} {_told(response)}"[:600])
            return False
        return True


def _told(response) -> str:
    """What an error answer says, without the envelope's token and ids."""
    try:
        answer = response.json
    except ValueError:
        return repr(response.body[:300])
    told = {key: answer[key] for key in ("message", "error", "data") if key in answer} if isinstance(answer, dict) else answer
    return json.dumps(told)


async def _worker(api, first: dict, second: dict, ledger: Ledger, stop: asyncio.Event, number: int) -> None:
    round_ = 0
    while not stop.is_set():
        round_ += 1
        try:
            await _round(api, first, second, ledger, number, round_)
        except AssertionError as error:  # from the helpers: an answer that was not the one expected
            ledger.failures.append(str(error)[:300])


async def _round(api, first: dict, second: dict, ledger: Ledger, number: int, round_: int) -> None:
    audio = audio_bytes("short")
    message_id = await audio_message(api, first["id"], caller_id_number=f"{number}{round_:04d}")
    ledger.requests += 1
    ledger.boxes[message_id] = first["id"]
    raw = await api.get(f"/vmboxes/{first['id']}/messages/{message_id}/raw")
    if ledger.check("download", raw, 200) and raw.body != audio:
        ledger.failures.append(f"download of {message_id}: other bytes")
    listing = await api.get(f"/vmboxes/{first['id']}/messages?paginate=false")
    if ledger.check("listing", listing, 200) and message_id not in {m["media_id"] for m in listing.data}:
        ledger.failures.append(f"listing of {first['id']} misses {message_id}")
    moved = await api.post(f"/vmboxes/{first['id']}/messages/{message_id}",
                           json={"data": {"source_id": second["id"]}})
    if not ledger.check("move", moved, 200):
        return
    ledger.boxes[message_id] = None
    new_id = moved.data["media_id"]
    ledger.boxes[new_id] = second["id"]
    if round_ % 2 == 0:
        deleted = await api.delete(f"/vmboxes/{second['id']}/messages/{new_id}")
        if ledger.check("delete", deleted, 200):
            ledger.boxes[new_id] = None


async def _expected_in(ledger: Ledger, box_id: str) -> set[str]:
    return {message_id for message_id, box in ledger.boxes.items() if box == box_id}


async def test_a_node_dies_and_comes_back_while_clients_work(cluster, api):
    first, second = await api.create_box(name="First"), await api.create_box(name="Second")
    ledger, stop = Ledger(), asyncio.Event()
    workers = [asyncio.create_task(_worker(api, first, second, ledger, stop, number)) for number in range(WORKERS)]
    await asyncio.sleep(3)
    await cluster("kill-node", 2)
    killed_at = ledger.requests
    await asyncio.sleep(8)
    await cluster("start-node", 2)
    restarted_at = ledger.requests
    await asyncio.sleep(3)
    stop.set()
    await asyncio.gather(*workers)

    assert ledger.failures == []
    assert killed_at < restarted_at < ledger.requests, "no requests while the node was down or after"
    wanted = {box["id"]: await _expected_in(ledger, box["id"]) for box in (first, second)}
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:  # a node that was down catches up by CouchDB's internal replication
        seen = {box_id: set(await listed(api, box_id)) for box_id in wanted}
        if seen == wanted or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    assert seen == wanted
