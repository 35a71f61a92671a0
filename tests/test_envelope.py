"""Crossbar's envelope and errors on every answer, CORS, body handling (docs/kazoo-behaviour.md §5)."""
from __future__ import annotations

import re

import pytest
from aiohttp import web

from kazoo_vm.config import Settings
from kazoo_vm.http.app import make_app
from kazoo_vm.http.tokens import issue
from kazoo_vm.devtools.local_couch import free_port
from kazoo_vm.storage.dbnames import account_db

SUCCESS_KEYS = {"auth_token", "data", "request_id", "revision", "status", "timestamp", "version", "node"}
ERROR_KEYS = {"auth_token", "data", "request_id", "status", "timestamp", "version", "node", "error", "message"}
ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def assert_envelope(response, keys: set[str]) -> dict:
    assert response.headers["Content-Type"] == "application/json"
    body = response.json
    assert set(body) == keys, body
    assert ISO_8601.match(body["timestamp"])
    assert body["request_id"] and response.headers["X-Request-ID"] == body["request_id"]
    return body


def assert_error(response, status: int, message: str, data: dict | None = None) -> dict:
    assert response.status == status, response.json
    body = assert_envelope(response, ERROR_KEYS)
    assert body["status"] == "error" and body["error"] == str(status) and body["message"] == message
    if data is not None:
        assert body["data"] == data
    return body


async def test_success_envelope(api):
    box = await api.create_box()
    response = await api.get(f"/vmboxes/{box['id']}")
    body = assert_envelope(response, SUCCESS_KEYS)
    assert body["status"] == "success" and body["data"]["id"] == box["id"]
    assert body["auth_token"] == api.token, "Crossbar echoes the token the request authenticated with"
    assert body["version"] and body["node"] and body["revision"]


async def test_request_id_given_by_the_client_is_kept_when_safe(api):
    response = await api.get("/vmboxes", headers={"X-Request-ID": "trace-42.a_b"})
    assert response.json["request_id"] == response.headers["X-Request-ID"] == "trace-42.a_b"
    response = await api.get("/vmboxes", headers={"X-Request-ID": "x" * 65})
    assert response.json["request_id"] == response.headers["X-Request-ID"] != "x" * 65


async def test_each_request_has_its_own_id(api):
    first, second = await api.get("/vmboxes"), await api.get("/vmboxes")
    assert first.json["request_id"] != second.json["request_id"]


@pytest.mark.parametrize("body", [b"{not json", b'{"data": {"name": "x",}}', b"\xff\xfe\x00garbage", b"[1, 2]",
                                  b'"a string"', b"[" * 100_000])
async def test_invalid_json_is_400(api, body):
    response = await api.put("/vmboxes", data=body, headers={"Content-Type": "application/json"})
    error = assert_error(response, 400, "invalid json")
    assert error["data"]["json"]["invalid"]["target"] == "body"
    assert error["data"]["json"]["invalid"]["message"]
    assert (await api.get("/vmboxes")).data == []


async def test_data_that_is_not_an_object_is_400(api):
    response = await api.put("/vmboxes", json={"data": ["name", "mailbox"]})
    assert "type" in assert_error(response, 400, "validation error")["data"]["data"]


@pytest.mark.parametrize("path", ["/v2/nothing", "/", "/v2/accounts", "/v2/accounts/{A}/nothing",
                                  "/v2/accounts/{A}/vmboxes/{B}/nothing/deeper/still"])
async def test_unknown_path_is_404_not_found(api, path):
    box = await api.create_box()
    response = await api.get(path.replace("{A}", api.account_id).replace("{B}", box["id"]))
    assert_error(response, 404, "not_found", {"message": "not found"})


@pytest.mark.parametrize("method, path", [("PATCH", "/vmboxes"), ("POST", "/vmboxes"), ("DELETE", "/vmboxes"),
                                          ("PUT", "/vmboxes/messages"), ("POST", "/vmboxes/messages"),
                                          ("PATCH", "/vmboxes/messages"), ("DELETE", "/vmboxes/messages"),
                                          ("PUT", "/vmboxes/{B}"), ("GET", "/v2/api_auth"),
                                          ("POST", "/v2/api_auth")])
async def test_wrong_method_is_405(api, couch, method, path):
    box = await api.create_box()
    before = await couch.get(account_db(api.account_id), box["id"])
    response = await api.request(method, path.replace("{B}", box["id"]), json={"data": {"name": "X", "mailbox": "1"}})
    assert_error(response, 405, "invalid_method", {"message": "method not allowed"})
    allowed = response.headers["Allow"].split(", ")
    assert allowed and method not in allowed
    assert await couch.get(account_db(api.account_id), box["id"]) == before
    assert len((await api.get("/vmboxes")).data) == 1


def padded_body(size: int) -> bytes:
    """A JSON body of exactly `size` bytes that fails validation (no mailbox)."""
    head, tail = b'{"data": {"name": "x", "pad": "', b'"}}'
    return head + b"p" * (size - len(head) - len(tail)) + tail


async def test_body_over_the_limit_is_413(api, settings):
    response = await api.put("/vmboxes", data=padded_body(settings.max_body_bytes + 1),
                             headers={"Content-Type": "application/json"})
    assert_error(response, 413, "request_entity_too_large")
    assert (await api.get("/vmboxes")).data == []


async def test_chunked_body_over_the_limit_is_413(api, settings):
    async def chunks():
        body = padded_body(settings.max_body_bytes + 1)
        for start in range(0, len(body), 256 * 1024):
            yield body[start:start + 256 * 1024]

    response = await api.put("/vmboxes", data=chunks(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "request_entity_too_large")
    assert (await api.get("/vmboxes")).data == []


async def test_body_at_the_limit_is_read(api, settings):
    response = await api.put("/vmboxes", data=padded_body(settings.max_body_bytes),
                             headers={"Content-Type": "application/json"})
    assert list(assert_error(response, 400, "validation error")["data"]) == ["mailbox"]


@pytest.mark.parametrize("path", ["/v2/accounts/{A}/vmboxes", "/v2/accounts/{A}/vmboxes/{B}", "/v2/api_auth"])
async def test_cors_preflight(api, path):
    box_id = "0" * 32
    response = await api.request("OPTIONS", path.replace("{A}", api.account_id).replace("{B}", box_id), token=None,
                                 headers={"Origin": "https://portal.example.com",
                                          "Access-Control-Request-Method": "PUT",
                                          "Access-Control-Request-Headers": "x-auth-token,content-type"})
    assert response.status == 200
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"x-auth-token", "content-type"} <= allowed
    methods = {name.strip() for name in response.headers["Access-Control-Allow-Methods"].split(",")}
    assert {"GET", "PUT", "POST", "PATCH", "DELETE"} <= methods
    assert response.headers["Access-Control-Allow-Origin"] in ("*", "https://portal.example.com")


async def test_answers_carry_cors_headers(api):
    response = await api.get("/vmboxes")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "x-request-id" in response.headers["Access-Control-Expose-Headers"].lower()


async def test_delete_with_a_json_body_is_accepted(api, couch):
    box = await api.create_box()
    response = await api.delete(f"/vmboxes/{box['id']}",
                                json={"data": {"ui_metadata": {"ui": "monster-ui", "origin": "voip"}}})
    assert response.status == 200, response.json
    assert (await couch.get(account_db(api.account_id), box["id"]))["pvt_deleted"] is True


async def test_monster_ui_extras_are_ignored(api, couch):
    body = {"data": {"name": "X", "mailbox": "1", "ui_metadata": {"version": "4.3", "ui": "monster-ui"},
                     "accept_charges": True}, "auth_token": "ignored", "verb": "PUT"}
    response = await api.put("/vmboxes", json=body)
    assert response.status == 201, response.json
    assert {"ui_metadata", "accept_charges", "auth_token", "verb"}.isdisjoint(response.data)
    stored = await couch.get(account_db(api.account_id), response.data["id"])
    assert {"ui_metadata", "accept_charges", "auth_token", "verb"}.isdisjoint(stored)


async def test_couchdb_down_is_503_without_credentials(http):
    """An app whose CouchDB does not answer: a Crossbar 503, and the CouchDB password never shows."""
    secret = "s" * 40
    settings = Settings(couchdb_url=f"http://admin:hunter2pw@127.0.0.1:{free_port()}", secret=secret,
                        couch_timeout=2.0)
    runner = web.AppRunner(make_app(settings), access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        account_id = "a" * 32
        async with http.get(f"http://127.0.0.1:{port}/v2/accounts/{account_id}/vmboxes",
                            headers={"X-Auth-Token": issue(secret, account_id, 60)}) as resp:
            body = await resp.read()
            assert resp.status == 503
            assert resp.headers["Content-Type"] == "application/json"
    finally:
        await runner.cleanup()
    assert b"hunter2pw" not in body and b'"error":"503"' in body
