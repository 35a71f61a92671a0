"""Bad input (docs/architecture.md, promises): every bad request gets a 4xx Crossbar error in JSON, and no document
in CouchDB changes. The catalogue below is sent to one account whose databases are read whole
(`_all_docs?include_docs=true`) before and after each request, along with the other account's."""
from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from conftest import Api
from kazoo_vm.http.tokens import issue
from kazoo_vm.storage import NotFound, is_db_missing
from kazoo_vm.storage.dbnames import ACCOUNTS_DB, account_db, modb
from kazoo_vm.voicemail.validation import schema
from bulk_helpers import audio_message
from message_helpers import audio_bytes, create_message, previous_month, this_month
from secret_helpers import shows
from cleanup import delete_accounts

MAX_IDS = 5000  # Settings.max_bulk_ids
YM = "%04d%02d" % this_month()
PIN = "864297"  # the box's PIN, which no error may echo


@dataclass
class World:
    """One account with two boxes and their messages, documents of other types, and another account."""
    api: Api
    ids: dict[str, str]
    other: Api

    def fill(self, value: Any) -> Any:
        """`{B}`, `{M}`... in paths and bodies replaced by the world's ids."""
        if isinstance(value, str):
            return re.sub(r"\{(\w+)\}", lambda found: self.ids[found[1]], value)
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        if isinstance(value, dict):
            return {key: self.fill(item) for key, item in value.items()}
        return value


@pytest.fixture(scope="module")
async def world(service, http, settings, couch):
    base, voicemail = service
    made = []

    async def account(name: str) -> Api:
        found, api_key = await voicemail.accounts.create(name)
        made.append(found.id)
        return Api(base, http, found.id, issue(settings.secret, found.id, 3600), api_key, found.realm)

    api, other = await account("Bad input"), await account("Bad input, other")
    box, second, theirs = await api.create_box(pin=PIN), await api.create_box(), await other.create_box()
    message = await audio_message(api, box["id"])
    deleted = (await create_message(api, box["id"]))["media_id"]
    assert (await api.delete(f"/vmboxes/{box['id']}/messages/{deleted}")).status == 200
    user = await couch.put(account_db(api.account_id), {"_id": secrets.token_hex(16), "pvt_type": "user"})
    cdr = {"_id": f"{YM}-{secrets.token_hex(16)}", "pvt_type": "cdr", "pvt_account_id": api.account_id}
    await voicemail.store.put_creating_db(modb(api.account_id, *this_month()), "modb", cdr)
    ids = {"A": api.account_id, "B": box["id"], "M": message, "SM": deleted, "B2": second["id"],
           "M2": (await create_message(api, second["id"]))["media_id"], "T": user["_id"], "TM": cdr["_id"],
           "OA": other.account_id, "OB": theirs["id"], "OM": (await create_message(other, theirs["id"]))["media_id"]}
    yield World(api, ids, other)
    await delete_accounts(couch, made)


async def databases(couch, world: World, request_text: str) -> dict[str, Any]:
    """Every document of both accounts' databases, and of the monthly databases the request names."""
    named = {(int(year), int(month)) for year, month in re.findall(r"(\d{4})(\d{2})-", request_text)}
    months = {this_month(), previous_month()} | {(year, month) for year, month in named if 1 <= month <= 12}
    names = [account_db(world.api.account_id), account_db(world.other.account_id),
             *(modb(world.api.account_id, *month) for month in months), modb(world.other.account_id, *this_month())]
    found: dict[str, Any] = {}
    for db in names:
        try:
            found[db] = await couch.request("GET", db.replace("/", "%2F") + "/_all_docs",
                                            params={"include_docs": "true"})
        except NotFound as error:
            assert is_db_missing(error)
            found[db] = None
    for account_id in (world.api.account_id, world.other.account_id):
        found[account_id] = await couch.get(ACCOUNTS_DB, account_id)
    return found


def _strict(name: str) -> None:
    raise AssertionError(f"{name} in a response: not JSON")


def assert_crossbar_error(response, status: int | None) -> dict:
    """A 4xx Crossbar error, in JSON that any parser reads; returns the body."""
    assert 400 <= response.status < 500, (response.status, response.body[:500])
    assert status is None or response.status == status, (response.status, response.body[:500])
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(response.body, parse_constant=_strict)
    assert body["status"] == "error" and body["error"] == str(response.status) and body["message"], body
    assert isinstance(body["data"], dict) and body["data"], body
    return body


@dataclass
class Bad:
    """One bad request: `json` is sent as JSON, `raw` as it is (with `type` as its Content-Type), `parts` as
    a multipart/mixed body of (content type, bytes)."""
    method: str
    path: str
    status: int | None = None
    json: Any = None
    raw: bytes | None = None
    type: str = "application/json"
    parts: list[tuple[str, bytes]] | None = None
    headers: dict | None = None


def case(label: str, *args, **kwargs):
    return pytest.param(Bad(*args, **kwargs), id=label)


async def send(world: World, bad: Bad):
    headers = dict(bad.headers or {})
    if bad.parts is not None:
        writer = aiohttp.MultipartWriter("mixed")
        for content_type, data in bad.parts:
            writer.append(data, {"Content-Type": content_type})
        return await world.api.request(bad.method, world.fill(bad.path), data=writer, headers=headers)
    if bad.raw is not None:
        headers["Content-Type"] = bad.type
        return await world.api.request(bad.method, world.fill(bad.path), data=bad.raw, headers=headers)
    return await world.api.request(bad.method, world.fill(bad.path), json=world.fill(bad.json), headers=headers)


# --- the catalogue ----------------------------------------------------------------------------------------

BOX, MESSAGES, MESSAGE = "/vmboxes/{B}", "/vmboxes/{B}/messages", "/vmboxes/{B}/messages/{M}"
JSON_ROUTES = [("PUT", "/vmboxes"), ("POST", BOX), ("PATCH", BOX), ("DELETE", BOX), ("PUT", MESSAGES),
               ("POST", MESSAGES), ("DELETE", MESSAGES), ("POST", MESSAGES + "/raw"), ("POST", MESSAGE),
               ("DELETE", MESSAGE), ("PUT", "/v2/api_auth")]
MALFORMED = {
    "truncated": b'{"data": {"name": "Box", "mailbox": "12',
    "trailing garbage": b'{"data": {"name": "Box"}} }',
    "NaN": b'{"data": {"name": "Box", "mailbox": "4100", "seek_duration_ms": NaN}}',
    "Infinity": b'{"data": {"name": "Box", "mailbox": "4100", "custom": -Infinity}}',
    "1e999": b'{"data": {"name": "Box", "mailbox": "4100", "custom": 1e999}}',
    "nested 10000 deep": b'{"data": {"custom": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}",
    "nested 500 deep": b'{"data": {"name": "Box", "mailbox": "4100", "custom": ' + b"[" * 500 + b"]" * 500 + b"}}",
    "not an object": b'[{"data": {"name": "Box", "mailbox": "4100"}}]',
    "not UTF-8": b'{"data": {"name": "\xff\xfe", "mailbox": "4100"}}',
    "lone surrogate": b'{"data": {"name": "Box \\ud800", "mailbox": "4100", "messages": ["\\udc00"]}}',
}
MALFORMED_CASES = [case(f"{method} {path} {label}", method, path, 400, raw=raw)
                   for method, path in JSON_ROUTES for label, raw in MALFORMED.items()]
DATA_NOT_AN_OBJECT = [case(f"{method} {path} data {kind}", method, path, 400, json={"data": value})
                      for method, path in JSON_ROUTES if (method, path) != ("DELETE", MESSAGE)
                      for kind, value in (("a string", "Box"), ("a list", [{"name": "Box"}]))]


WRONG_TYPE = {"boolean": "perhaps", "integer": "many", "string": 12345, "array": "not a list",
              "object": "not an object"}


def wrong_types(schema_name: str) -> list[tuple[str, dict]]:
    """(field path, data with a value of the wrong type at that field) for every field of a schema,
    nested objects and array items included."""
    found = []

    def walk(properties: dict, prefix: list[str]) -> None:
        for name, spec in properties.items():
            spec = schema(spec["$ref"]) if "$ref" in spec else spec
            path = [*prefix, name]
            value: Any = WRONG_TYPE[spec["type"]]
            for key in reversed(path):
                value = {key: value}
            found.append((".".join(path), value))
            if spec["type"] == "object":
                walk(spec.get("properties", {}), path)
            if spec["type"] == "array":
                item = WRONG_TYPE[spec["items"]["type"]]
                for key in reversed(path):
                    item = {key: [item]}
                found.append((".".join(path) + ".0", item))

    walk(schema(schema_name)["properties"], [])
    return found


BOX_FIELDS = {"name": "Box", "mailbox": "4100"}
WRONG_BOX_TYPES = [case(f"{method} box {field}", method, path, 400, json={"data": {**BOX_FIELDS, **data}})
                   for field, data in wrong_types("vmboxes") for method, path in (("PUT", "/vmboxes"), ("PATCH", BOX))]
WRONG_MESSAGE_TYPES = [
    *[case(f"message {field}", "PUT", MESSAGES, 400, json={"data": data})
      for field, data in wrong_types("vm_message_metadata")],
    *[case(f"multipart message {field}", "PUT", MESSAGES, 400,
           parts=[("application/json", json.dumps({"data": data}).encode()), ("audio/wav", audio_bytes("short"))])
      for field, data in wrong_types("vm_message_metadata")],
]

MEGABYTE = "x" * 1_000_000
HUGE = [
    case("1 MB box name", "PUT", "/vmboxes", 400, json={"data": {**BOX_FIELDS, "name": MEGABYTE}}),
    case("1 MB box name on PATCH", "PATCH", BOX, 400, json={"data": {"name": MEGABYTE}}),
    case("1 MB mailbox", "PUT", "/vmboxes", 400, json={"data": {**BOX_FIELDS, "mailbox": MEGABYTE}}),
    case("1 MB pin", "PATCH", BOX, 400, json={"data": {"pin": MEGABYTE}}),
    case("1 MB caller id name", "PUT", MESSAGES, 400, json={"data": {"caller_id_name": MEGABYTE}}),
    case("1 MB API key", "PUT", "/v2/api_auth", 401, json={"data": {"api_key": MEGABYTE}}),
    case("1 MB box id", "PUT", "/vmboxes", 400, json={"data": {**BOX_FIELDS, "id": MEGABYTE}}),
    case("1 MB move target", "POST", MESSAGE, 404, json={"data": {"source_id": MEGABYTE}}),
    case("1 MB folder to delete", "DELETE", MESSAGES, 400, json={"data": {"folder": MEGABYTE}}),
]

WAV = audio_bytes("short")
MULTIPART = [
    case("300 parts", "PUT", MESSAGES, 400, parts=[("application/json", b"{}")] * 300),
    case("two recordings", "PUT", MESSAGES, 400, parts=[("audio/wav", WAV), ("audio/wav", WAV)]),
    case("a part that is not audio", "PUT", MESSAGES, 415, parts=[("text/html", b"<html></html>")]),
    case("a JSON part that is not JSON", "PUT", MESSAGES, 400,
         parts=[("application/json", b"{oops"), ("audio/wav", WAV)]),
    case("a JSON part with NaN", "PUT", MESSAGES, 400, parts=[("application/json", b'{"data": {"length": NaN}}')]),
    case("a JSON part that is a list", "PUT", MESSAGES, 400, parts=[("application/json", b"[1]")]),
    case("nested multipart", "PUT", MESSAGES, 400, parts=[("multipart/mixed; boundary=inner", b"--inner--\r\n")]),
    case("no recording on PUT raw", "PUT", MESSAGE + "/raw", 400, parts=[("application/json", b"{}")]),
    case("no boundary", "PUT", MESSAGES, 400, raw=b"--x\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--x--\r\n",
         type="multipart/mixed"),
    case("truncated multipart", "PUT", MESSAGES, 400, raw=b"--x\r\nContent-Type: audio/wav\r\n\r\nRIFF",
         type="multipart/mixed; boundary=x"),
    case("garbage multipart", "PUT", MESSAGES, 400, raw=secrets.token_bytes(512),
         type="multipart/form-data; boundary=x"),
]

CONTENT_TYPES = [
    case("HTML message", "PUT", MESSAGES, 415, raw=b"<html></html>", type="text/html"),
    case("PNG message", "PUT", MESSAGES, 415, raw=b"\x89PNG\r\n", type="image/png"),
    case("XML message", "PUT", MESSAGES, 415, raw=b"<data/>", type="application/xml"),
    case("text recording", "PUT", MESSAGE + "/raw", 415, raw=b"hello", type="text/plain"),
    case("JSON recording", "PUT", MESSAGE + "/raw", 400, raw=b'{"data": {}}', type="application/json"),
    case("form box", "PUT", "/vmboxes", 400, raw=b"name=Box&mailbox=4100", type="application/x-www-form-urlencoded"),
    case("multipart box", "PATCH", BOX, 400, raw=b"--x\r\n\r\n{}\r\n--x--\r\n", type="multipart/form-data; boundary=x"),
]

BAD_BOX_IDS = {"_design": "_design%2Fvmboxes", "_all_docs": "_all_docs", "_changes": "_changes",
               "dot dot slash": "..%2F..%2Faccounts", "NUL": "x%00", "encoded slash": "a%2Fb",
               "encoded dots": "%2e%2e", "65 characters": "b" * 65, "the account document": "{A}",
               "a user document": "{T}", "another account's box": "{OB}", "a message id": "{M}"}
BOX_IDS = [case(f"{label} as box, {method}", method, path.replace("{B}", box_id), 404, json=body)
           for label, box_id in BAD_BOX_IDS.items()
           for method, path, body in (("PATCH", BOX, {"data": {"name": "Renamed"}}), ("DELETE", BOX, None),
                                      ("PUT", MESSAGES, {"data": {}}))]

BAD_MESSAGE_IDS = {"_design": "_design%2Fmailbox_messages", "_all_docs": "_all_docs", "NUL": f"{YM}-%00",
                   "dot dot slash": f"{YM}-..%2F..%2F{secrets.token_hex(16)}", "encoded slash": f"{YM}%2F{'a' * 32}",
                   "month 13": f"{YM[:4]}13-{'a' * 32}", "1970": f"197001-{'a' * 32}",
                   "another account's message": "{OM}", "another box's message": "{M2}",
                   "a CDR in the monthly database": "{TM}", "a box id": "{B2}"}
MESSAGE_IDS = [case(f"{label} as message, {method} {tail or 'metadata'}", method, MESSAGES + "/" + message_id + tail,
                    404, json=body)
               for label, message_id in BAD_MESSAGE_IDS.items()
               for method, tail, body in (("POST", "", {"data": {"folder": "saved"}}), ("DELETE", "", None),
                                          ("GET", "/raw", None))]
OTHERS = [
    case("folder change of a soft-deleted message", "POST", "/vmboxes/{B}/messages/{SM}", 404,
         json={"data": {"folder": "saved"}}),
    case("another account's box with this token", "PATCH", "/v2/accounts/{OA}/vmboxes/{OB}", 403,
         json={"data": {"name": "Mine"}}),
    case("a range past the end", "GET", MESSAGE + "/raw", 416, headers={"Range": "bytes=99999999-"}),
    case("messages a string", "POST", MESSAGES, 400, json={"data": {"messages": "{M}", "folder": "saved"}}),
    case("messages of numbers", "POST", MESSAGES, 400, json={"data": {"messages": [1, 2], "folder": "saved"}}),
    case("messages of objects", "DELETE", MESSAGES, 400, json={"data": {"messages": [{"id": "{M}"}]}}),
    case("no messages", "POST", MESSAGES, 400, json={"data": {"messages": [], "folder": "saved"}}),
    case("too many messages", "POST", MESSAGES, 400,
         json={"data": {"messages": [f"{YM}-{n:032x}" for n in range(MAX_IDS + 1)], "folder": "saved"}}),
    case("unknown folder to delete", "DELETE", MESSAGES, 400, json={"data": {"folder": "trash"}}),
    case("zip of nothing", "POST", MESSAGES + "/raw", 400, json={"data": {}}),
    case("zip of another account's message", "POST", MESSAGES + "/raw", 404, json={"data": {"messages": ["{OM}"]}}),
]
TARGETS = {"_design": "_design/vmboxes", "another account's box": "{OB}", "a user document": "{T}",
           "a message id": "{M}", "an unknown box": "f" * 32, "empty": "", "a number": 42,
           "a list with another account's box": ["{B2}", "{OB}"], "an object": {"id": "{B2}"}}


def move_status(target: Any) -> int:
    """Ids that are no box of the account are 404; a value that is no id (or list of ids) at all is 400."""
    targets = target if isinstance(target, list) else [target]
    return 404 if all(isinstance(item, str) and item for item in targets) else 400


MOVES = [case(f"move to {label}, {kind}", "POST", path, move_status(target),
              json={"data": {**extra, "source_id": target}})
         for label, target in TARGETS.items()
         for kind, path, extra in (("one", MESSAGE, {}), ("bulk", MESSAGES, {"messages": ["{M}"]}))]


def start_key(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


QUERIES = {
    "page_size letters": ("page_size=ten", 404), "page_size 0": ("page_size=0", 404),
    "page_size negative": ("page_size=-1", 404), "page_size fraction": ("page_size=1.5", 404),
    "page_size 5000 digits": ("page_size=" + "9" * 5000, 404),
    "start_key garbage": ("start_key=!!!not-a-key", 400), "start_key not ours": (f"start_key={start_key([1, 2])}", 400),
    "start_key NaN": ("start_key=" + base64.urlsafe_b64encode(f'["{YM}",["{{B}}",NaN],0]'.encode()).decode(), 400),
    "start_key 400 digits": (f"start_key={start_key([YM, ['{B}', 10 ** 400], 0])}", 400),
    "start_key another box": (f"start_key={start_key([YM, ['{OB}', 63900000000], 0])}", 400),
    "start_key negative skip": (f"start_key={start_key([YM, ['{B}', 63900000000], -1])}", 400),
    "created_from after created_to": ("created_from=63900000000&created_to=63800000000", 400),
    "created range over a month": ("created_from=63800000000&created_to=63900000000", 400),
}
LISTINGS = [case(f"{label}, {where}", "GET", f"{path}?{query}", status)
            for label, (query, status) in QUERIES.items()
            for where, path in (("box", MESSAGES), ("account", "/vmboxes/messages"))
            if not (where == "account" and "another box" in label)]

CATALOGUE = [*MALFORMED_CASES, *DATA_NOT_AN_OBJECT, *WRONG_BOX_TYPES, *WRONG_MESSAGE_TYPES, *HUGE, *MULTIPART,
             *CONTENT_TYPES, *BOX_IDS, *MESSAGE_IDS, *OTHERS, *MOVES, *LISTINGS]


def test_the_catalogue_is_long_enough():
    assert len(CATALOGUE) >= 80


@pytest.mark.parametrize("bad", CATALOGUE)
async def test_bad_request_is_a_4xx_crossbar_error_and_changes_nothing(world, couch, bad):
    request_text = world.fill(json.dumps([bad.path, bad.json], default=str))
    before = await databases(couch, world, request_text)
    response = await send(world, bad)
    assert_crossbar_error(response, bad.status)
    assert await databases(couch, world, request_text) == before
    shown = response.body.decode(errors="replace")
    data = bad.json.get("data") if isinstance(bad.json, dict) else None
    sent_pin = data.get("pin") if isinstance(data, dict) else None
    assert not shows(shown, PIN) and (not isinstance(sent_pin, str) or not shows(shown, sent_pin[:100])), \
        "a PIN in an error"


# --- a body over the limit is refused before it is read ---------------------------------------------------

NEVER_SENT = 10 ** 12  # bytes announced by Content-Length, none of which ever come


async def announce_only(url: str, method: str, content_type: str, token: str) -> tuple[int, dict, bytes]:
    """Send a request's head announcing a huge body, never send the body, and read the answer."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write((f"{method} {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nX-Auth-Token: {token}\r\n"
                      f"Content-Type: {content_type}\r\nContent-Length: {NEVER_SENT}\r\n\r\n").encode())
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        headers = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    finally:
        writer.close()


@pytest.mark.parametrize("method, path, content_type", [
    ("PUT", "/vmboxes", "application/json"), ("PATCH", BOX, "application/json"),
    ("POST", MESSAGES, "application/json"), ("DELETE", MESSAGES, "application/json"),
    ("POST", MESSAGES + "/raw", "application/json"), ("PUT", MESSAGES, "multipart/mixed; boundary=x"),
    ("PUT", MESSAGES, "audio/wav"), ("PUT", MESSAGE + "/raw", "audio/mpeg"),
    ("PUT", "/v2/api_auth", "application/json"),
])
async def test_a_body_over_the_limit_is_413_without_waiting_for_it(world, couch, method, path, content_type):
    before = await databases(couch, world, "")
    status, headers, body = await asyncio.wait_for(
        announce_only(world.api.url(world.fill(path)), method, content_type, world.api.token), 10)
    assert status == 413 and headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "413"
    assert await databases(couch, world, "") == before
