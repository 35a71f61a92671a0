"""Service processes as an operator runs them (`kazoo-vm serve`, subprocesses) sharing one CouchDB:
a process killed (SIGKILL) between a change and its delivery delivers it after a restart, with the same
event_id; with two processes each event arrives once, and when one dies the other takes its feeds over."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import replace

import aiohttp
import pytest

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage.dbnames import gregorian_now, modb, year_month

from conftest import SECRET
from message_helpers import audio_bytes, create_modb, kazoo_message, upload_message
from webhook_helpers import (Receiver, about, change_folder_twice, delete_events_state, delete_hooks, emptied,
                             recorded_edits)

START_SECONDS = 60.0


class Instance:
    def __init__(self, couch_url: str, **env: str):
        self.port = free_port()
        self.env = {**os.environ, "KAZOO_VM_COUCHDB_URL": couch_url, "KAZOO_VM_EVENTS_POLL_SECONDS": "0.3",
                    "KAZOO_VM_COUCHDB_TIMEOUT": "5", **env}
        self.process: subprocess.Popen | None = None

    async def start(self) -> "Instance":
        self.process = subprocess.Popen([sys.executable, "-m", "kazoo_vm", "serve", "--port", str(self.port)],
                                        env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = asyncio.get_running_loop().time() + START_SECONDS
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.process.poll() is None, "the service exited"
                assert asyncio.get_running_loop().time() < deadline, "the service did not start"
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/v2/health") as response:
                        if response.status == 200 and (await response.json())["data"]["events"]["partitions"]:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    async def health(self) -> dict:
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{self.port}/v2/health") as response:
            return (await response.json())["data"]["events"]


@pytest.fixture
async def api(new_account, couch):
    account = await new_account()
    yield account
    await delete_hooks(couch, [account.account_id])
    await delete_events_state(couch, account.account_id)
    await couch.db_delete(modb(account.account_id, *year_month(gregorian_now())))


@pytest.fixture
async def receiver():
    receiver = await Receiver().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
def instances():
    made: list[Instance] = []
    yield made
    for instance in made:
        instance.stop()


async def hook(api, receiver: Receiver, **fields) -> dict:
    data = {"name": "test", "uri": receiver.url, "hook": "object", "format": "json", **fields}
    response = await api.put("/webhooks", json={"data": data})
    assert response.status == 201, response.json
    return response.data


async def followed(instances: list[Instance], timeout: float = 45.0) -> None:
    """Wait until one of the instances follows the test account (the only one with a hook)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not any([(await instance.health())["accounts_followed"] for instance in instances
                   if instance.process.poll() is None]):
        assert asyncio.get_running_loop().time() < deadline, "no instance follows the account"
        await asyncio.sleep(0.1)


async def test_sigkill_between_change_and_delivery_then_restart_delivers_it(api, receiver, instances, couch_url):
    instance = await Instance(couch_url, KAZOO_VM_WEBHOOK_BACKOFF="60").start()
    instances.append(instance)
    await hook(api, receiver, retries=4)
    await followed(instances)
    receiver.status = 500
    box = await api.create_box()
    first = await receiver.wait_for(1)
    assert len(first) == 1, "the first try did not come"
    event_id = first[0].headers["X-Kazoo-VM-Event-ID"]
    instance.kill()  # the retry was 60 s away: the change is not delivered, its checkpoint not moved
    receiver.status = 200
    await instance.start()
    got = await receiver.wait_for(2, timeout=40)
    assert len(got) == 2, "the event did not arrive after the restart"
    assert got[1].headers["X-Kazoo-VM-Event-ID"] == event_id
    assert json.loads(got[1].body)["id"] == box["id"]


async def test_a_creation_reported_before_its_audio_keeps_its_event_id_after_a_restart(
        api, receiver, instances, couch_url, couch, service):
    """Kazoo writes a message, then its audio. The feed read between the two reports `doc_created` at the first
    revision; killed while that delivery waits for its retry and restarted, the pipeline reads the second: the
    same creation, delivered again with the same event_id."""
    instance = await Instance(couch_url, KAZOO_VM_WEBHOOK_BACKOFF="60").start()
    instances.append(instance)
    box = await api.create_box()
    now = gregorian_now()
    db = await create_modb(service, api, *year_month(now))
    await hook(api, receiver, retries=4)
    await followed(instances)
    receiver.status = 500
    doc = kazoo_message(api, box, now, secrets.token_hex(16))
    await couch.put(db, doc)
    first_try = await receiver.wait_for(1, where=about(doc["_id"]))
    assert [json.loads(item.body)["action"] for item in first_try] == ["doc_created"], "the first try did not come"
    await couch.put_attachment(db, doc["_id"], doc["_rev"], doc["media_filename"], "audio/mpeg", audio_bytes("mp3"))
    instance.kill()
    receiver.status = 200
    await instance.start()
    again = await receiver.wait_for(2, where=about(doc["_id"]), timeout=40)
    assert [(json.loads(item.body)["action"], item.headers["X-Kazoo-VM-Event-ID"]) for item in again] == \
        [("doc_created", first_try[0].headers["X-Kazoo-VM-Event-ID"])] * 2


async def test_sigkill_with_recorded_revisions_waiting_then_restart_delivers_each_of_them(
        api, receiver, instances, couch_url, couch):
    """Two folder changes answered while the month's read waits for a delivery (its retry is 60 s away): their
    revisions are in the outbox, not yet reported. Killed, restarted: each change is an event, in order, the
    waiting one keeps its event_id, and the outbox is empty once they are delivered."""
    instance = await Instance(couch_url, KAZOO_VM_WEBHOOK_BACKOFF="60", KAZOO_VM_SECRET=SECRET).start()
    instances.append(instance)
    await hook(api, receiver, retries=4)
    await followed(instances)
    through = replace(api, base=f"http://127.0.0.1:{instance.port}")
    box = await through.create_box()
    message_id = (await upload_message(through, box["id"])).data["media_id"]
    assert len(await receiver.wait_for(1, where=about(message_id))) == 1
    receiver.status = 500
    second = (await upload_message(through, box["id"])).data["media_id"]
    first_try = await receiver.wait_for(1, where=about(second))
    assert len(first_try) == 1, "the first try did not come"
    await change_folder_twice(through, box["id"], message_id)
    assert await recorded_edits(couch, api.account_id, message_id) == [3, 4]
    instance.kill()
    receiver.status = 200
    await instance.start()

    got = await receiver.wait_for(3, where=about(message_id), timeout=45)
    assert [json.loads(item.body)["action"] for item in got] == ["doc_created", "doc_edited", "doc_edited"], \
        [json.loads(item.body) for item in receiver.received]
    again = await receiver.wait_for(2, where=about(second), timeout=10)
    assert [item.headers["X-Kazoo-VM-Event-ID"] for item in again] == \
        [first_try[0].headers["X-Kazoo-VM-Event-ID"]] * 2 and json.loads(again[1].body)["action"] == "doc_created"
    await emptied(couch, api.account_id)


async def test_two_instances_deliver_each_event_once_and_one_takes_over_from_a_dead_one(
        api, receiver, instances, couch_url):
    first = await Instance(couch_url).start()
    instances.append(first)
    second = await Instance(couch_url).start()
    instances.append(second)
    for _ in range(100):  # the partitions spread over both
        if (await first.health())["partitions"] and (await second.health())["partitions"]:
            break
        await asyncio.sleep(0.5)
    await hook(api, receiver)
    await followed(instances)
    boxes = [await api.create_box() for _ in range(5)]
    got = await receiver.wait_for(5, timeout=40)
    await asyncio.sleep(2.0)
    ids = [item.headers["X-Kazoo-VM-Event-ID"] for item in receiver.received]
    assert len(got) == 5 and len(set(ids)) == len(ids) == 5, [json.loads(item.body) for item in receiver.received]
    assert {json.loads(item.body)["id"] for item in got} == {box["id"] for box in boxes}

    first.kill()  # whichever held the account's partition, the other one has it within 30 s
    await asyncio.sleep(0.5)
    late = await api.create_box()
    got = await receiver.wait_for(6, timeout=45)
    assert len(got) == 6 and json.loads(got[5].body)["id"] == late["id"]
    await first.start()  # back, so its leases are released when the test stops it
