"""Helpers of the webhook tests: a real aiohttp receiver on a free port, and removal of the hooks a test made."""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage import Conflict, CouchClient, NotFound


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """An HTTP receiver: records every request and answers `status` (changeable while running)."""
    port: int = field(default_factory=free_port)
    status: int = 200
    delay: float = 0.0  # seconds before answering (a slow receiver)
    gate: asyncio.Event | None = None  # when set, every request waits until the gate opens (a held pipeline)
    received: list[Received] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> "Receiver":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.gate is not None:
            self.gate.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.method, request.path, dict(request.headers), dict(request.query),
                                      await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        return web.Response(status=self.status, text="ok")

    async def wait_for(self, count: int, timeout: float = 30.0, where=lambda item: True) -> list[Received]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = [item for item in self.received if where(item)]
            if len(found) >= count or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.05)


async def delete_hooks(couch: CouchClient, account_ids: list[str]) -> None:
    """Remove every hook document of these accounts from `webhooks` (hard delete: tests leave nothing)."""
    rows = (await couch.request("GET", "webhooks/_all_docs", params={"include_docs": "true"}))["rows"]
    for row in rows:
        doc: dict[str, Any] = row.get("doc") or {}
        if doc.get("pvt_account_id") in account_ids:
            await couch.delete("webhooks", doc["_id"], doc["_rev"])


async def outbox_of(couch: CouchClient, account_id: str) -> list[dict[str, Any]]:
    """The event outbox documents stored for an account's databases (`outbox:<partition>:<db>:...`)."""
    from kazoo_vm.storage.dbnames import account_db
    try:
        rows = (await couch.request("GET", "kazoo_vm_events/_all_docs",
                                    params={"include_docs": "true", "startkey": '"outbox:"',
                                            "endkey": '"outbox:\ufff0"'}))["rows"]
    except Exception:  # noqa: BLE001 - no events database: no outbox
        return []
    return [row["doc"] for row in rows if row["id"].split(":", 2)[2].startswith(account_db(account_id))]


def about(doc_id: str):
    """Matches the deliveries of one document's object events."""
    return lambda item: json.loads(item.body).get("id") == doc_id


async def change_folder_twice(api, box_id: str, message_id: str) -> None:
    """Two folder changes of one message, one right after the other (each answered)."""
    for folder in ("saved", "new"):
        changed = await api.post(f"/vmboxes/{box_id}/messages/{message_id}", json={"data": {"folder": folder}})
        assert changed.status == 200, changed.json


async def recorded_edits(couch: CouchClient, account_id: str, doc_id: str) -> list[int]:
    """The generations of a message's revisions in the outbox after its creation (whose record, generation 2,
    may be there too: delivered, not yet deleted)."""
    return [generation for outbox in await outbox_of(couch, account_id) for doc in outbox["revisions"]
            if doc["_id"] == doc_id and (generation := int(doc["_rev"].split("-")[0])) > 2]


async def emptied(couch: CouchClient, account_id: str, timeout: float = 30.0) -> None:
    """Wait until the account's outbox documents are deleted (after their events are settled)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while left := await outbox_of(couch, account_id):
        assert asyncio.get_running_loop().time() < deadline, left
        await asyncio.sleep(0.1)


async def delete_events_state(couch: CouchClient, account_id: str) -> None:
    """The checkpoints of an account's databases, and any outbox document left, in `kazoo_vm_events`."""
    from kazoo_vm.storage.dbnames import account_db
    try:
        rows = (await couch.request("GET", "kazoo_vm_events/_all_docs"))["rows"]
    except Exception:  # noqa: BLE001 - no events database: nothing to delete
        return
    for row in rows:
        kind, _, rest = row["id"].partition(":")
        if (kind == "checkpoint" and rest.startswith(account_db(account_id))) or \
                (kind == "outbox" and rest.partition(":")[2].startswith(account_db(account_id))):
            try:
                await couch.delete("kazoo_vm_events", row["id"], row["value"]["rev"])
            except (NotFound, Conflict):  # deleted meanwhile by the pipeline that reported it
                pass
