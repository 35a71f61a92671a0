"""The envelope exactly as Crossbar sends it, on every route family (issue 11, docs/kazoo-behaviour.md §5.2-§5.3):
1. `auth_token` is the token the request authenticated with (header or query string), `""` where it had none;
2. an error's top-level `message` is Crossbar's error name, and `data` carries the sentence;
3. every paged answer carries `start_key`, the first page included, and sent back it lists the same page."""
from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

import pytest

from bulk_helpers import audio_message, unknown_id
from cleanup import delete_accounts
from conftest import Api, Response
from kazoo_vm.http.tokens import issue
from message_helpers import NO_AUDIO, create_message, times_last_month, times_this_month
from test_auth import bad_token

ENVELOPE = {"auth_token", "data", "request_id", "revision", "status", "timestamp", "version", "node"}
ERROR = {"auth_token", "data", "request_id", "status", "timestamp", "version", "node", "error", "message"}
PAGING = {"page_size", "start_key", "next_start_key"}
VALIDATION = "validation error"


@dataclass
class World:
    """One account with a box, a recorded message and a message without audio; a stranger account."""
    api: Api
    stranger: Api
    box: str
    message: str
    silent: str


@pytest.fixture(scope="module")
async def world(service, http, settings, couch):
    base, voicemail = service
    made: list[str] = []

    async def account(name: str) -> Api:
        found, api_key = await voicemail.accounts.create(name)
        made.append(found.id)
        return Api(base, http, found.id, issue(settings.secret, found.id, 3600), api_key, found.realm)

    api, stranger = await account("Envelope"), await account("Stranger")
    box = (await api.create_box(name="Envelope", mailbox="4100"))["id"]
    message = await audio_message(api, box)
    silent = (await create_message(api, box, caller_id_number="6002"))["media_id"]
    yield World(api, stranger, box, message, silent)
    await delete_accounts(couch, made)


@dataclass(frozen=True)
class Case:
    """A request under the account (`{B}` box, `{M}` message, `{N}` message without audio, `{X}` unknown box,
    `{Y}` unknown message) and the answer Crossbar gives: its status and, for errors, the error name."""
    method: str
    path: str
    body: dict | None = None
    status: int = 200
    name: str | None = None

    def fill(self, world: World, box: str = "") -> tuple[str, dict | None]:
        values = {"{B}": world.box, "{M}": world.message, "{N}": world.silent, "{X}": box or "f" * 32,
                  "{Y}": unknown_id()}

        def put(value):
            if isinstance(value, str):
                for key, replacement in values.items():
                    value = value.replace(key, replacement)
                return value
            if isinstance(value, dict):
                return {key: put(item) for key, item in value.items()}
            if isinstance(value, list):
                return [put(item) for item in value]
            return value

        return put(self.path), put(self.body)


CASES = {
    "boxes: list": Case("GET", "/vmboxes"),
    "boxes: create, invalid": Case("PUT", "/vmboxes", {"data": {"name": "No mailbox"}}, 400, VALIDATION),
    "boxes: create, mailbox taken": Case("PUT", "/vmboxes", {"data": {"name": "Again", "mailbox": "4100"}}, 400,
                                         VALIDATION),
    "box: get": Case("GET", "/vmboxes/{B}"),
    "box: get, unknown": Case("GET", "/vmboxes/{X}", status=404, name="bad_identifier"),
    "box: patch": Case("PATCH", "/vmboxes/{B}", {"data": {"name": "Envelope"}}),
    "box: replace, unknown": Case("POST", "/vmboxes/{X}", {"data": {"name": "X", "mailbox": "4199"}}, 404,
                                  "bad_identifier"),
    "box: delete, unknown": Case("DELETE", "/vmboxes/{X}", status=404, name="bad_identifier"),
    "messages: list": Case("GET", "/vmboxes/{B}/messages"),
    "messages: account-wide list": Case("GET", "/vmboxes/messages"),
    "messages: list, unknown box": Case("GET", "/vmboxes/{X}/messages", status=404, name="bad_identifier"),
    "messages: create, unknown box": Case("PUT", "/vmboxes/{X}/messages", {"data": {}}, 404, "bad_identifier"),
    "messages: create, invalid": Case("PUT", "/vmboxes/{B}/messages", {"data": {"folder": "bin"}}, 400,
                                      VALIDATION),
    "message: get": Case("GET", "/vmboxes/{B}/messages/{M}"),
    "message: get, unknown": Case("GET", "/vmboxes/{B}/messages/{Y}", status=404, name="bad_identifier"),
    "message: folder": Case("POST", "/vmboxes/{B}/messages/{M}", {"data": {"folder": "new"}}),
    "message: move, unknown box": Case("POST", "/vmboxes/{B}/messages/{M}", {"data": {"source_id": "{X}"}}, 404,
                                       "bad_identifier"),
    "message: delete, unknown": Case("DELETE", "/vmboxes/{B}/messages/{Y}", status=404, name="bad_identifier"),
    "raw audio: unknown message": Case("GET", "/vmboxes/{B}/messages/{Y}/raw", status=404, name="bad_identifier"),
    "raw audio: no audio": Case("GET", "/vmboxes/{B}/messages/{N}/raw", status=404, name="bad_identifier"),
    "raw audio: upload, no file": Case("PUT", "/vmboxes/{B}/messages/{N}/raw", status=400, name=VALIDATION),
    "bulk: folder": Case("POST", "/vmboxes/{B}/messages", {"data": {"messages": ["{M}"], "folder": "new"}}),
    "bulk: no ids": Case("POST", "/vmboxes/{B}/messages", {"data": {"folder": "saved"}}, 400, VALIDATION),
    "bulk: delete, unknown id": Case("DELETE", "/vmboxes/{B}/messages", {"data": {"messages": ["{Y}"]}}),
    "bulk: unknown box": Case("POST", "/vmboxes/{X}/messages", {"data": {"messages": ["{M}"]}}, 404,
                              "bad_identifier"),
    "zip: unknown message": Case("POST", "/vmboxes/{B}/messages/raw", {"data": {"messages": ["{Y}"]}}, 404,
                                 "not_found"),
    "zip: no audio": Case("POST", "/vmboxes/{B}/messages/raw", {"data": {"messages": ["{N}"]}}, 404, "not_found"),
    "zip: no ids": Case("POST", "/vmboxes/{B}/messages/raw", {"data": {}}, 400, VALIDATION),
    "zip: unknown box": Case("POST", "/vmboxes/{X}/messages/raw", {"data": {"messages": ["{M}"]}}, 404,
                             "bad_identifier"),
}
FAMILIES = {name: case for name, case in CASES.items() if case.status < 400}
FAMILIES.update({  # answered with audio or a ZIP when they succeed: their error bodies are the envelope
    "raw audio: get": Case("GET", "/vmboxes/{B}/messages/{M}/raw"),
    "zip: get": Case("POST", "/vmboxes/{B}/messages/raw", {"data": {"messages": ["{M}"]}}),
})


async def send(world: World, case: Case, token: str | None, *, where: str = "header", api: Api | None = None,
               box: str = "") -> Response:
    api = api or world.api
    path, body = case.fill(world, box)
    if where == "query" and token:
        return await api.request(case.method, f"{path}?auth_token={token}", json=body, token=None)
    return await api.request(case.method, path, json=body, token=token)


def assert_envelope(response: Response, keys: set[str]) -> dict:
    assert response.headers["Content-Type"] == "application/json"
    body = response.json
    assert keys <= set(body) <= keys | PAGING, body
    return body


def assert_crossbar_error(response: Response, status: int, name: str) -> dict:
    """Crossbar's error envelope: the name at the top level; the sentence (a system error's `message`, or a
    validation error's `{field: {rule: {message}}}`) in `data`."""
    assert response.status == status, response.body[:500]
    body = assert_envelope(response, ERROR)
    assert (body["status"], body["error"], body["message"]) == ("error", str(status), name), body
    if name == VALIDATION:
        rules = [rule for field in body["data"].values() for rule in field.values()]
        assert rules and all(isinstance(rule["message"], str) and rule["message"] for rule in rules), body
    else:
        assert isinstance(body["data"]["message"], str) and body["data"]["message"] not in ("", name), body
    return body


# --- 1 and 2: auth_token and error names, on every route family -----------------------------------------------

@pytest.mark.parametrize("where", ["header", "query"])
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_every_answer_echoes_the_token_and_names_its_error(world, case, where):
    response = await send(world, case, world.api.token, where=where)
    if case.name is None:
        assert response.status == (201 if case.method == "PUT" else 200), response.body[:500]
        body = assert_envelope(response, ENVELOPE)
        assert body["status"] == "success"
    else:
        body = assert_crossbar_error(response, case.status, case.name)
    assert body["auth_token"] == world.api.token


async def test_bad_identifier_names_what_was_not_found(world):
    box = "f" * 32
    response = await send(world, CASES["box: get, unknown"], world.api.token, box=box)
    assert response.json["data"] == {"cause": box, "message": "bad identifier"}
    response = await send(world, CASES["raw audio: no audio"], world.api.token)
    assert response.json["data"] == {"cause": NO_AUDIO, "message": "bad identifier"}


def forged(api: Api) -> str:
    return api.token[:-6] + ("AAAAAA" if not api.token.endswith("AAAAAA") else "BBBBBB")


@pytest.mark.parametrize("token", ["none", "forged", "expired"])
@pytest.mark.parametrize("case", FAMILIES.values(), ids=FAMILIES.keys())
async def test_401_is_crossbars_body_without_a_token(world, settings, case, token):
    sent = {"none": None, "forged": forged(world.api),
            "expired": bad_token("expired", settings.secret, world.api.account_id)}[token]
    response = await send(world, case, sent, where="query" if token == "expired" else "header")
    body = assert_crossbar_error(response, 401, "invalid_credentials")
    assert body["data"] == {"message": "invalid credentials"}
    assert body["auth_token"] == ""


@pytest.mark.parametrize("case", FAMILIES.values(), ids=FAMILIES.keys())
async def test_403_echoes_the_token_that_authenticated(world, case):
    response = await send(world, case, world.api.token, api=world.stranger)
    body = assert_crossbar_error(response, 403, "forbidden")
    assert body["auth_token"] == world.api.token


async def test_api_auth_answers_the_token_it_issues_and_never_a_failed_one(world):
    response = await world.api.put("/v2/api_auth", json={"data": {"api_key": world.api.api_key}},
                                   token=world.stranger.token)
    assert response.status == 201
    issued = assert_envelope(response, ENVELOPE)["auth_token"]
    assert issued and issued != world.stranger.token
    assert (await world.api.get("/vmboxes", token=issued)).json["auth_token"] == issued
    response = await world.api.put("/v2/api_auth", json={"data": {"api_key": secrets.token_hex(32)}},
                                   token=world.api.token)
    body = assert_crossbar_error(response, 401, "invalid_credentials")
    assert body["data"] == {"message": "invalid credentials"} and body["auth_token"] == ""
    response = await world.api.put("/v2/api_auth", json={"data": {}}, token=world.api.token)
    assert assert_crossbar_error(response, 400, VALIDATION)["auth_token"] == ""


async def test_routes_without_auth_carry_no_token(world):
    health = await world.api.get("/v2/health", token=world.api.token)
    assert assert_envelope(health, ENVELOPE)["auth_token"] == ""
    document = await world.api.get("/v2/openapi.json", token=world.api.token)
    assert document.status == 200 and world.api.token not in document.body.decode()


# --- 3: start_key on every paged listing ------------------------------------------------------------------------

async def pages_of(api: Api, path: str, query: str) -> list[Response]:
    """Every page, following next_start_key."""
    pages, start = [], None
    while len(pages) < 20:
        response = await api.get(f"{path}?{query}" + (f"&start_key={start}" if start else ""))
        assert response.status == 200, response.body[:500]
        pages.append(response)
        start = response.json.get("next_start_key")
        if start is None:
            return pages
    raise AssertionError("paging does not end")


async def assert_each_page_comes_back(api: Api, path: str, query: str, ids) -> list[list]:
    """Every page has page_size and start_key (the first too), and its start_key lists that page again."""
    pages = await pages_of(api, path, query)
    for number, page in enumerate(pages):
        body = assert_envelope(page, ENVELOPE)
        assert body["page_size"] == len(body["data"]) and body["start_key"], (number, body)
        if number:
            assert body["start_key"] == pages[number - 1].json["next_start_key"]
        again = await api.get(f"{path}?{query}&start_key={body['start_key']}")
        assert (again.json["start_key"], ids(again.data), again.json.get("next_start_key")) == \
            (body["start_key"], ids(body["data"]), body.get("next_start_key")), number
    return [ids(page.data) for page in pages]


def box_ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def message_ids(items: list[dict]) -> list[str]:
    return [item["media_id"] for item in items]


def account_message_ids(items: list[dict]) -> list[str]:
    return [next(iter(item.values()))["media_id"] for item in items]


async def test_box_listing_pages_carry_their_start_key(api):
    made = {str(4200 + n): (await api.create_box(mailbox=str(4200 + n)))["id"] for n in range(5)}
    ordered = sorted(made.values())
    pages = await assert_each_page_comes_back(api, "/vmboxes", "page_size=2", box_ids)
    assert pages == [ordered[:2], ordered[2:4], ordered[4:]]
    filtered = await assert_each_page_comes_back(api, "/vmboxes", "page_size=1&filter_mailbox=4203", box_ids)
    assert filtered == [[made["4203"]]]


@pytest.mark.parametrize("order", ["", "&ascending=true"])
async def test_message_listing_pages_carry_their_start_key(api, order):
    box = await api.create_box()
    made = [(await create_message(api, box["id"], timestamp=timestamp))["media_id"]
            for timestamp in times_this_month(3) + times_last_month(2)]
    pages = await assert_each_page_comes_back(api, f"/vmboxes/{box['id']}/messages", "page_size=2" + order,
                                              message_ids)
    assert sorted(sum(pages, [])) == sorted(made) and [len(page) for page in pages] == [2, 2, 1]
    pages = await assert_each_page_comes_back(api, "/vmboxes/messages", "page_size=2" + order, account_message_ids)
    assert sorted(sum(pages, [])) == sorted(made) and [len(page) for page in pages] == [2, 2, 1]


@pytest.mark.parametrize("path", ["/vmboxes", "/vmboxes/{B}/messages", "/vmboxes/messages",
                                  "/vmboxes/messages?ascending=true"])
async def test_an_empty_listing_carries_a_start_key_too(api, path):
    if "{B}" in path:
        path = path.replace("{B}", (await api.create_box())["id"])
    response = await api.get(path)
    start = assert_envelope(response, ENVELOPE)["start_key"]
    assert response.data == [] and response.json["page_size"] == 0 and "next_start_key" not in response.json
    again = await api.get(f"{path}{'&' if '?' in path else '?'}start_key={start}")
    assert again.status == 200 and again.data == [] and again.json["start_key"] == start


async def test_a_kazoo_style_start_key_comes_back_opaque(api):
    made = sorted([(await api.create_box(mailbox=str(4300 + n)))["id"] for n in range(3)])
    response = await api.get(f"/vmboxes?page_size=2&start_key={made[1]}")
    assert box_ids(response.data) == made[1:]
    opaque = response.json["start_key"]
    assert opaque != made[1] and base64.urlsafe_b64decode(opaque + "=" * (-len(opaque) % 4))
    again = await api.get(f"/vmboxes?page_size=2&start_key={opaque}")
    assert box_ids(again.data) == made[1:] and again.json["start_key"] == opaque


@pytest.mark.parametrize("path", ["/vmboxes", "/vmboxes/messages"])
async def test_paginate_false_has_no_paging_keys(api, path):
    response = await api.get(f"{path}?paginate=false")
    assert response.status == 200 and not PAGING & set(response.json)
