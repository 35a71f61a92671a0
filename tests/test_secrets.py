"""Secrets (docs/architecture.md, promises): CouchDB credentials, tokens, API keys and PINs never appear in a response body, a
header, an error message or a log line. One exception, as Crossbar does it: the envelope's `auth_token` echoes
the token the request itself authenticated with (and `PUT /v2/api_auth` hands out the token it issues); a
token that did not authenticate (a 401) is never echoed, and no token is ever logged.

The app under test reaches CouchDB with `user:password@` in its URL, through a small proxy that lets only
those credentials through (and passes the request on with the real server's own, if it has any), so the
credentials are really sent and really needed. Every log record of the `kazoo_vm` and `aiohttp` loggers is
captured while a mix of requests runs, CouchDB going away included, and then searched with every answer."""
from __future__ import annotations

import logging
import re
import secrets
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from conftest import SECRET, Api, Response
from kazoo_vm.config import Settings
from kazoo_vm.http.app import make_app
from kazoo_vm.http.tokens import issue
from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.devtools.cleanup import delete_account
from kazoo_vm.voicemail.service import Voicemail
from message_helpers import audio_bytes, multipart
from secret_helpers import shows

REQUEST_LOG = re.compile(r"^(GET|PUT|POST|PATCH|DELETE|OPTIONS|HEAD) (/\S*) (\d{3}) \d+\.\dms ([A-Za-z0-9_.-]+)$")
PIN, LONG_PIN, NUMBER_PIN = "918273", "9182736450", 975318


@asynccontextmanager
async def couch_proxy(upstream: str, user: str, password: str,
                      request_lines: list[str] | None = None) -> AsyncIterator[str]:
    """A CouchDB in front of `upstream` that answers 401 unless given user:password; its URL (no credentials).
    The request lines it is sent (what CouchDB would write to its own log) go into `request_lines`."""
    real = URL(upstream)
    real_auth = {"Authorization": aiohttp.encode_basic_auth(real.user, real.password or "")} if real.user else {}
    base = str(real.with_user(None).with_password(None)).rstrip("/")
    wanted = aiohttp.encode_basic_auth(user, password)

    async with aiohttp.ClientSession() as session:
        async def forward(request: web.Request) -> web.Response:
            if request_lines is not None:
                request_lines.append(f"{request.method} {request.raw_path}")
            if request.headers.get("Authorization") != wanted:
                return web.json_response({"error": "unauthorized", "reason": "Name or password is incorrect."},
                                         status=401)
            headers = {name: value for name, value in request.headers.items()
                       if name.lower() in ("content-type", "accept", "range")}
            async with session.request(request.method, URL(base + request.raw_path, encoded=True),
                                       headers={**headers, **real_auth}, data=await request.read()) as answer:
                return web.Response(status=answer.status, body=await answer.read(),
                                    headers={"Content-Type": answer.headers.get("Content-Type", "application/json")})

        server = web.Server(forward, access_log=None)
        runner = web.ServerRunner(server, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()


@asynccontextmanager
async def app_on(couchdb_url: str) -> AsyncIterator[tuple[str, Voicemail]]:
    settings = Settings(couchdb_url=couchdb_url, secret=SECRET, port=free_port(), couch_timeout=2.0)
    voicemail = Voicemail(settings)
    runner = web.AppRunner(make_app(settings, voicemail), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", settings.port).start()
    try:
        yield f"http://127.0.0.1:{settings.port}", voicemail
    finally:
        await runner.cleanup()


@dataclass
class Seen:
    """Every request sent, the token it carried ("" for none) and its answer."""
    exchanges: list[tuple[str, str, str, Response]] = field(default_factory=list)

    async def send(self, api: Api, method: str, path: str, **kwargs) -> Response:
        response = await api.request(method, path, **kwargs)
        header = kwargs.get("token", True)
        sent = api.token if header is True else header or URL(api.url(path)).query.get("auth_token", "")
        self.exchanges.append((method, api.url(path), sent, response))
        return response


def without_echoed_token(method: str, url: str, sent: str, response: Response) -> str:
    """The answer's body, its envelope's `auth_token` blanked once checked: the token the request carried (the
    one issued, on `PUT /v2/api_auth`), or "" when the request had none or it did not authenticate (401)."""
    body = response.body.decode(errors="replace")
    if not response.headers.get("Content-Type", "").startswith("application/json"):
        return body
    echoed = response.json.get("auth_token", "")
    if url.endswith("/v2/api_auth"):
        assert echoed == "" or response.status == 201, f"a token in the answer to {method} {url}"
    else:
        assert echoed in ("", sent), f"a token the request did not carry in the answer to {method} {url}"
        assert response.status != 401 or echoed == "", f"a token that failed, echoed by {method} {url}"
    return body.replace(f'"auth_token":"{echoed}"', '"auth_token":""', 1) if echoed else body


def is_box_answer(method: str, url: str, response: Response) -> bool:
    """A box as the API returns it, PIN included (docs/architecture.md: the portals edit it): a box created, or any
    request on one box that succeeded."""
    path = URL(url).path
    return response.status < 400 and ((method == "PUT" and path.endswith("/vmboxes"))
                                      or re.search(r"/vmboxes/(?!messages$)[^/]+$", path) is not None)


def log_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info:
        text += "".join(traceback.format_exception(*record.exc_info))
    return text + (record.stack_info or "")


async def test_no_secret_in_any_answer_header_or_log_line(couch_url, couch, http, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("kazoo_vm", "aiohttp"):
        caplog.set_level(logging.DEBUG, logger=name)
    user, password = f"kazoo-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    upstream_password = URL(couch_url).password
    seen, made = Seen(), []
    try:
        async with couch_proxy(couch_url, user, password) as proxy:
            couchdb_url = str(URL(proxy).with_user(user).with_password(password))
            async with app_on(couchdb_url) as (base, voicemail):
                account, api_key = await voicemail.accounts.create("Secrets")
                made.append(account.id)
                made.append((await voicemail.accounts.create("Secrets, other"))[0].id)
                token = issue(SECRET, account.id, 1800)  # not the one /v2/api_auth issues in the same second
                api = Api(base, http, account.id, token, api_key, account.realm)
                forged = f"{api.token[:-8]}{secrets.token_hex(4)}"
                issued = await exercise(seen, api, made[1], forged)
                await seen.send(api, "GET", "/v2/health", token=None)
            wrong_password = str(URL(proxy).with_user(user).with_password("not-" + password))
            async with app_on(wrong_password) as (base, _):
                refused = replace(api, base=base)
                assert (await seen.send(refused, "GET", "/vmboxes")).status == 503
                assert (await seen.send(refused, "GET", "/v2/health", token=None)).status == 503
        async with app_on(couchdb_url) as (base, _):  # the proxy is gone: CouchDB does not answer at all
            gone = replace(api, base=base)
            assert (await seen.send(gone, "GET", f"/vmboxes?auth_token={api.token}", token=None)).status == 503
            assert (await seen.send(gone, "GET", "/v2/health", token=None)).status == 503
    finally:
        for account_id in made:
            await delete_account(couch, account_id)

    everywhere = {"CouchDB password": password, "CouchDB user": user, "CouchDB user:password": f"{user}:{password}",
                  "API key": api_key, "wrong API key": WRONG_KEY, "token": api.token, "forged token": forged,
                  "issued token": issued, "long PIN": LONG_PIN, "number PIN": str(NUMBER_PIN)}
    if upstream_password:
        everywhere["the real CouchDB's password"] = upstream_password
    records = [log_text(record) for record in caplog.records]
    assert records, "the logs were captured"
    for label, value in {**everywhere, "PIN": PIN}.items():
        leaks = [text for text in records if shows(text, value)]
        assert not leaks, f"{label} in the log: {leaks[:3]}"
    for method, url, sent, response in seen.exchanges:
        shown = without_echoed_token(method, url, sent, response) + "\n".join(
            f"{k}: {v}" for k, v in response.headers.items())
        for label, value in everywhere.items():
            assert not shows(shown, value), f"{label} in the answer to {method} {url}"
        if not is_box_answer(method, url, response):
            assert not shows(shown, PIN), f"the PIN in the answer to {method} {url}"
    assert_request_log(caplog.records, seen)


WRONG_KEY = secrets.token_hex(32)


async def exercise(seen: Seen, api: Api, other_account_id: str, forged: str) -> str:
    """A mix of requests that carry secrets, succeed and fail; returns the token /v2/api_auth issued."""
    send = seen.send
    answer = await send(api, "PUT", "/v2/api_auth", json={"data": {"api_key": api.api_key}}, token=None)
    assert answer.status == 201
    issued = answer.json["auth_token"]
    assert (await send(api, "PUT", "/v2/api_auth", json={"data": {"api_key": WRONG_KEY}}, token=None)).status == 401
    assert (await send(api, "PUT", "/v2/api_auth", data=f'{{"data": {{"api_key": "{api.api_key}"',
                       headers={"Content-Type": "application/json"}, token=None)).status == 400
    box = await send(api, "PUT", "/vmboxes", json={"data": {"name": "Secret", "mailbox": "5100", "pin": PIN}},
                     token=issued)
    assert box.status == 201 and box.data["pin"] == PIN
    box_path = f"/vmboxes/{box.data['id']}"
    for bad_pin in (LONG_PIN, NUMBER_PIN, {"value": LONG_PIN}, [LONG_PIN]):
        assert (await send(api, "PATCH", box_path, json={"data": {"pin": bad_pin}})).status == 400
        assert (await send(api, "PUT", "/vmboxes", json={"data": {"name": "X", "mailbox": "5101", "pin": bad_pin}})
                ).status == 400
    assert (await send(api, "PATCH", box_path, data=f'{{"data": {{"pin": "{LONG_PIN}"', token=api.token,
                       headers={"Content-Type": "application/json"})).status == 400
    assert (await send(api, "GET", f"{box_path}?auth_token={api.token}", token=None)).status == 200
    assert (await send(api, "GET", "/vmboxes")).status == 200
    created = await send(api, "PUT", f"{box_path}/messages",
                         data=multipart("mixed", {"caller_id_number": "6001"}, [(audio_bytes("short"), "audio/wav")]))
    message = f"{box_path}/messages/{created.data['media_id']}"
    for method, path, kwargs in [
        ("GET", f"{message}/raw?auth_token={api.token}", {"token": None}),
        ("GET", f"{message}/raw?auth_token={forged}", {"token": None}),
        ("GET", f"{box_path}/messages?auth_token={forged}&page_size=1", {"token": None}),
        ("GET", message, {}),
        ("POST", f"{box_path}/messages", {"json": {"data": {"messages": [created.data["media_id"]],
                                                            "folder": "saved"}}}),
        ("POST", f"{box_path}/messages/raw", {"json": {"data": {"messages": [created.data["media_id"]]}}}),
        ("GET", "/vmboxes/messages", {}),
        ("GET", "/vmboxes", {"token": forged}),
        ("GET", f"/v2/accounts/{other_account_id}/vmboxes", {}),
        ("GET", f"/v2/accounts/{other_account_id}/vmboxes?auth_token={api.token}", {"token": None}),
        ("DELETE", box_path, {}),
    ]:
        assert (await send(api, method, path, **kwargs)).status < 500
    return issued


def assert_request_log(records: list[logging.LogRecord], seen: Seen) -> None:
    """One line per request, from `kazoo_vm.http`: method, path without the query string, status, ms and the
    request id the answer carries."""
    lines = {}
    for record in records:
        found = REQUEST_LOG.match(record.getMessage()) if record.name == "kazoo_vm.http" else None
        if found:
            lines[found[4]] = found
    for method, url, _, response in seen.exchanges:
        found = lines.get(response.headers["X-Request-ID"])
        assert found, f"no request log line for {method} {url}"
        assert (found[1], found[2], int(found[3])) == (method, URL(url).path, response.status)
        assert "?" not in found[2] and "auth_token" not in found[0]


async def test_an_api_key_is_never_in_a_couchdb_request_line(couch_url, http):
    user, password, lines = "kazoo", secrets.token_urlsafe(16), []
    async with couch_proxy(couch_url, user, password, lines) as proxy:
        async with app_on(str(URL(proxy).with_user(user).with_password(password))) as (base, _):
            async with http.put(f"{base}/v2/api_auth", json={"data": {"api_key": WRONG_KEY}}) as answer:
                assert answer.status == 401
    assert lines and not [line for line in lines if WRONG_KEY in line]
