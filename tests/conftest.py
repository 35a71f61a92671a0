"""The test harness: a real CouchDB-protocol server (an in-memory PouchDB Server started here, or the
server KAZOO_VM_COUCHDB_URL names), the app served over real HTTP, and a fresh account per test.
Everything a test creates is deleted afterwards, so the suite can run against a shared CouchDB."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kazoo_vm.config import Settings
from kazoo_vm.http.app import make_app
from kazoo_vm.http.tokens import issue
from kazoo_vm.devtools.local_couch import LocalCouch, free_port
from kazoo_vm.storage import CouchClient
from kazoo_vm.voicemail.service import Voicemail

from cleanup import delete_accounts

DATA = Path(__file__).parent / "data"
LOCAL_POUCHDB = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "pouchdb-server"
if LOCAL_POUCHDB.exists():  # subprocesses that run in a temporary folder find the checkout's PouchDB Server too
    os.environ.setdefault("KAZOO_VM_POUCHDB_SERVER", str(LOCAL_POUCHDB))
collect_ignore = ["consumer"]  # another project's tests: .ci/consumer-test runs them against the built wheel
SECRET = "test-secret-that-is-long-enough-for-hmac-sha256"


@pytest.fixture(scope="session")
def couch_url():
    url = os.environ.get("KAZOO_VM_COUCHDB_URL")
    if url:
        yield url
        return
    with LocalCouch() as couch:
        yield couch.url


@pytest.fixture(scope="session")
def settings(couch_url) -> Settings:
    # events off: the event tests start instances of their own (tests/test_webhooks_delivery.py)
    return Settings(couchdb_url=couch_url, secret=SECRET, port=free_port(), couch_timeout=5.0, events=False,
                    write_quorum=os.environ.get("KAZOO_VM_COUCHDB_WRITE_QUORUM") or Settings.write_quorum)


@pytest.fixture(scope="session")
async def service(settings):
    """The app served on a free port; yields (base url, the app's Voicemail)."""
    voicemail = Voicemail(settings)
    runner = web.AppRunner(make_app(settings, voicemail), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", settings.port)
    await site.start()
    yield f"http://127.0.0.1:{settings.port}", voicemail
    await runner.cleanup()


@pytest.fixture(scope="session")
async def couch(couch_url):
    """A direct CouchDB client, for asserting what is stored."""
    client = CouchClient(couch_url)
    yield client
    await client.close()


@dataclass
class Response:
    status: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        import json
        return json.loads(self.body)

    @property
    def data(self) -> Any:
        return self.json["data"]


@dataclass
class Api:
    """An HTTP client for one account: `await api.get("/vmboxes")` is relative to the account."""
    base: str
    session: aiohttp.ClientSession
    account_id: str
    token: str
    api_key: str
    realm: str
    extra: dict = field(default_factory=dict)

    def url(self, path: str) -> str:
        if path.startswith("/v2/"):
            return self.base + path
        return f"{self.base}/v2/accounts/{self.account_id}{path}"

    async def request(self, method: str, path: str, *, json: Any = None, data: Any = None,
                      headers: dict | None = None, token: str | None | bool = True, **kwargs: Any) -> Response:
        headers = dict(headers or {})
        if token is True:
            headers["X-Auth-Token"] = self.token
        elif token:
            headers["X-Auth-Token"] = token
        async with self.session.request(method, self.url(path), json=json, data=data, headers=headers,
                                        **kwargs) as resp:
            return Response(resp.status, resp.headers, await resp.read())

    async def get(self, path: str, **kw: Any) -> Response:
        return await self.request("GET", path, **kw)

    async def put(self, path: str, **kw: Any) -> Response:
        return await self.request("PUT", path, **kw)

    async def post(self, path: str, **kw: Any) -> Response:
        return await self.request("POST", path, **kw)

    async def patch(self, path: str, **kw: Any) -> Response:
        return await self.request("PATCH", path, **kw)

    async def delete(self, path: str, **kw: Any) -> Response:
        return await self.request("DELETE", path, **kw)

    async def create_box(self, **fields: Any) -> dict:
        body = {"name": fields.pop("name", "Box"), "mailbox": fields.pop("mailbox", None), **fields}
        if body["mailbox"] is None:
            import secrets
            body["mailbox"] = str(1000 + secrets.randbelow(8_999_000))
        response = await self.put("/vmboxes", json={"data": body})
        assert response.status == 201, response.json
        return response.data


@pytest.fixture
async def scratch_db(couch):
    """A database of no Kazoo kind, for the storage client's own tests; deleted afterwards."""
    name = f"kazoo_vm_test_scratch_{secrets.token_hex(6)}"
    await couch.db_create(name)
    yield name
    await couch.db_delete(name)


@pytest.fixture(scope="session")
async def http(service):
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def new_account(service, http, settings, couch):
    """A factory of fresh accounts (each with an API client); all are deleted after the test."""
    base, voicemail = service
    made: list[str] = []

    async def make(name: str = "Test account", parent: Api | None = None, **kw: Any) -> Api:
        account, api_key = await voicemail.accounts.create(name, kw.get("realm"), parent and parent.account_id,
                                                           kw.get("timezone"))
        made.append(account.id)
        return Api(base, http, account.id, issue(settings.secret, account.id, 3600), api_key, account.realm)

    yield make
    await delete_accounts(couch, made)


@pytest.fixture
async def api(new_account) -> Api:
    return await new_account()
