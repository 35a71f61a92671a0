"""Helpers of the bulk, move and ZIP tests: messages made in numbers, the ids a bulk request is given
(unknown, malformed, foreign, out of retention), the bulk result, and what is stored for a list of ids."""
from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

from kazoo_vm.storage.dbnames import gregorian_now
from message_helpers import create_message, kazoo_message, modb_of, store_doc, this_month, upload_message

Api = Any  # conftest.Api
OLD_DAYS = 100  # beyond the default retention of 93 days
NOT_FOUND, PRIOR = "not_found", "prior_to_retention_duration"


def unknown_id(year_month: tuple[int, int] | None = None) -> str:
    """A well-formed message id that no message has."""
    year, month = year_month or this_month()
    return f"{year:04d}{month:02d}-{secrets.token_hex(16)}"


MALFORMED_IDS = ["not-a-message", "2024-" + "0" * 32, "202413-" + "0" * 32]


async def new_messages(api: Api, box_id: str, count: int, **fields: Any) -> list[str]:
    """`count` messages without audio, created over HTTP; their ids."""
    return [(await create_message(api, box_id, **fields))["media_id"] for _ in range(count)]


async def audio_message(api: Api, box_id: str, kind: str = "short", **metadata: Any) -> str:
    """A message uploaded with the audio file `kind`; its id."""
    response = await upload_message(api, box_id, kind, metadata)
    assert response.status == 201, response.json
    return response.data["media_id"]


async def old_message(service, couch, api: Api, box: dict, audio: bytes | None = None) -> str:
    """A message written straight into its monthly database, OLD_DAYS old: out of retention."""
    doc = kazoo_message(api, box, gregorian_now() - OLD_DAYS * 86400, secrets.token_hex(16), audio)
    await store_doc(service, couch, api, doc)
    return doc["_id"]


async def foreign_ids(service, couch, api: Api, new_account) -> dict[str, tuple[Api, str]]:
    """Messages that are not the api box's: {label: (the account that stores it, its id)}."""
    other_box = await api.create_box()
    other = await new_account("Other")
    their_box = await other.create_box()
    strange_box = await api.create_box()
    stranger = kazoo_message(api, strange_box, gregorian_now() - 60, secrets.token_hex(16))
    stranger["pvt_account_id"] = other.account_id
    await store_doc(service, couch, api, stranger)
    return {
        "other box": (api, (await create_message(api, other_box["id"]))["media_id"]),
        "other account": (other, (await create_message(other, their_box["id"]))["media_id"]),
        "stored for another account": (api, stranger["_id"]),
    }


@dataclass
class Mix:
    """The ids of a bulk request on one box: messages it may change, and ids that must fail (with the
    reason) and stay as they are, each stored by its owner account."""
    valid: list[str]
    failures: dict[str, str]
    owners: dict[str, Api]

    @property
    def ids(self) -> list[str]:
        failing = list(self.failures)
        return [*failing[:3], *self.valid, *failing[3:]]


async def mixed_ids(service, couch, api: Api, new_account, box: dict, valid: list[str]) -> Mix:
    """`valid` with unknown, malformed, foreign and out-of-retention ids around them."""
    foreign = await foreign_ids(service, couch, api, new_account)
    old = await old_message(service, couch, api, box)
    failures = {unknown_id(): NOT_FOUND, unknown_id((2001, 1)): NOT_FOUND, **dict.fromkeys(MALFORMED_IDS, NOT_FOUND),
                **{message_id: NOT_FOUND for _, message_id in foreign.values()}, old: PRIOR}
    owners = {**dict.fromkeys(failures, api), **{message_id: owner for owner, message_id in foreign.values()}}
    return Mix(valid, failures, owners)


def bulk_result(response) -> tuple[list[str], dict[str, str]]:
    """The 200 answer of a bulk request in the shape of docs/differences.md; (succeeded, {id: reason})."""
    assert response.status == 200, response.json
    data = response.data
    assert set(data) == {"succeeded", "suceeded", "failed"}, data
    assert data["suceeded"] == data["succeeded"]
    failed: dict[str, str] = {}
    for entry in data["failed"]:
        assert isinstance(entry, dict) and len(entry) == 1, data["failed"]
        failed.update(entry)
    assert len(failed) == len(data["failed"])
    assert len(set(data["succeeded"])) == len(data["succeeded"])
    return data["succeeded"], failed


async def stored_docs(couch, api: Api, ids: list[str]) -> dict[str, dict | None]:
    """The stored document of every id (None when there is none), read straight from CouchDB."""
    found = {}
    for message_id in ids:
        try:
            db = modb_of(api, message_id)
        except TypeError:  # not an id of any monthly database
            found[message_id] = None
            continue
        found[message_id] = await couch.get_or_none(db, message_id)
    return found


async def snapshot(couch, owned: dict[str, Api]) -> dict[str, dict | None]:
    """The stored document of every id, each read from the account that owns it."""
    return {message_id: (await stored_docs(couch, owner, [message_id]))[message_id]
            for message_id, owner in owned.items()}


async def attachment_bytes(couch, api: Api, message_id: str) -> dict[str, bytes]:
    """{name: bytes} of every attachment the stored message has."""
    doc = await couch.get(modb_of(api, message_id), message_id, attachments=True)
    return {name: base64.b64decode(stub["data"]) for name, stub in (doc.get("_attachments") or {}).items()}


async def raw_audio(api: Api, box_id: str, message_id: str) -> bytes:
    response = await api.get(f"/vmboxes/{box_id}/messages/{message_id}/raw")
    assert response.status == 200, response.body[:200]
    return response.body


async def listed(api: Api, box_id: str) -> dict[str, dict]:
    """{id: metadata} of every message the box's listing shows."""
    response = await api.get(f"/vmboxes/{box_id}/messages?paginate=false")
    assert response.status == 200, response.json
    return {item["media_id"]: item for item in response.data}


async def couch_requests(service, request) -> tuple[Any, int]:
    """The answer of an awaited API request and how many CouchDB requests the app made for it."""
    _, voicemail = service
    before = voicemail.store.requests
    response = await request
    return response, voicemail.store.requests - before
