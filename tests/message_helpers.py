"""Helpers shared by the message tests: creating messages over HTTP, building uploads, times in
Gregorian seconds, and reading what is stored in the monthly databases."""
from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp

from kazoo_vm.storage.dbnames import GREGORIAN_UNIX_OFFSET, encoded, gregorian_now, modb, year_month
from kazoo_vm.storage.design_docs import MODB

DATA = Path(__file__).parent / "data"
Api = Any  # conftest.Api
MESSAGE_ID = re.compile(r"^(\d{4})(\d{2})-[0-9a-f]{32}$")
NO_AUDIO = "voicemail message does not have any audio file"
# file name, content type, duration in ms (the mp3 plays 7.47 s, 7.70 s with its encoder padding)
AUDIO = {
    "wav": ("message-8k.wav", "audio/wav", 7470),
    "mp3": ("message.mp3", "audio/mpeg", 7470),
    "m4a": ("message.m4a", "audio/mp4", 7470),
    "short": ("short-8k.wav", "audio/wav", 2901),
}
DURATION_TOLERANCE_MS = 300


def gregorian(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """A UTC time in Gregorian seconds."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc).timestamp()) \
        + GREGORIAN_UNIX_OFFSET


def this_month() -> tuple[int, int]:
    return year_month(gregorian_now())


def previous_month(months_back: int = 1) -> tuple[int, int]:
    year, month = this_month()
    index = year * 12 + month - 1 - months_back
    return index // 12, index % 12 + 1


def times_this_month(count: int) -> list[int]:
    """`count` distinct past times of the current UTC month, newest first."""
    now = gregorian_now() - 1
    first = gregorian(*this_month(), 1)
    step = max(1, (now - first) // (count + 1))
    return [now - step * index for index in range(count)]


def times_last_month(count: int) -> list[int]:
    """`count` distinct times at the end of the previous UTC month, newest first (well within retention)."""
    last_second = gregorian(*this_month(), 1) - 1
    return [last_second - 3600 * index for index in range(count)]


def audio_bytes(kind: str) -> bytes:
    return (DATA / AUDIO[kind][0]).read_bytes()


def modb_of(api: Api, message_id_or_time: str | int) -> str:
    if isinstance(message_id_or_time, int):
        return modb(api.account_id, *year_month(message_id_or_time))
    found = MESSAGE_ID.match(message_id_or_time) or re.match(r"^(\d{4})(\d{2})-", message_id_or_time)
    return modb(api.account_id, int(found[1]), int(found[2]))


async def stored(couch, api: Api, message_id: str) -> dict:
    return await couch.get(modb_of(api, message_id), message_id)


async def create_message(api: Api, box_id: str, **fields: Any) -> dict:
    """PUT a message with JSON metadata only; returns its metadata."""
    response = await api.put(f"/vmboxes/{box_id}/messages", json={"data": fields})
    assert response.status == 201, response.json
    return response.data


def multipart(kind: str, metadata: dict | None,
              audio: list[tuple[bytes, str]]) -> aiohttp.MultipartWriter | aiohttp.FormData:
    """A multipart/mixed or multipart/form-data body: one JSON part (if metadata), then the audio parts."""
    if kind == "form-data":
        form = aiohttp.FormData()
        if metadata is not None:
            form.add_field("data", json.dumps({"data": metadata}), content_type="application/json")
        for index, (data, content_type) in enumerate(audio):
            form.add_field(f"file{index}", data, content_type=content_type, filename=f"upload{index}")
        return form
    writer = aiohttp.MultipartWriter("mixed")
    if metadata is not None:
        writer.append_json({"data": metadata})
    for data, content_type in audio:
        writer.append(data, {"Content-Type": content_type})
    return writer


async def upload_message(api: Api, box_id: str, kind: str = "wav", metadata: dict | None = None,
                         as_: str = "mixed"):
    """PUT a message with metadata and audio in one multipart request; returns the response."""
    _, content_type, _ = AUDIO[kind]
    body = multipart(as_, metadata or {}, [(audio_bytes(kind), content_type)])
    return await api.put(f"/vmboxes/{box_id}/messages", data=body)


async def create_modb(service, api: Api, year: int, month: int) -> str:
    """A monthly database of the test account, with its design documents, removed after the test."""
    _, voicemail = service
    db = modb(api.account_id, year, month)
    await voicemail.store.create_db(db, MODB)
    return db


def kazoo_message(api: Api, box: dict, timestamp: int, media_id: str, audio: bytes | None = None) -> dict:
    """A message document as Kazoo's callflow writes it (docs/kazoo-behaviour.md §2.2 fixture), for this account and box."""
    year, month = year_month(timestamp)
    message_id = f"{year:04d}{month:02d}-{media_id}"
    doc = {
        "_id": message_id, "description": "voicemail message with media", "media_filename": f"{media_id}.mp3",
        "media_source": "recording",
        "metadata": {"call_id": "1_3532868610@10.26.0.190", "caller_id_name": "userC userC",
                     "caller_id_number": "10202", "folder": "new", "from": "1002@hesaam.2600hz.com",
                     "length": 970, "media_id": message_id, "timestamp": timestamp,
                     "to": "3001@hesaam.2600hz.com"},
        "name": "mailbox 3001 message 10-2-2017 17:0:0",
        "pvt_account_db": encoded(modb(api.account_id, year, month)),
        "pvt_account_id": api.account_id, "pvt_created": timestamp, "pvt_modified": timestamp,
        "pvt_type": "mailbox_message", "source_id": box["id"], "source_type": "voicemail",
        "streamable": True, "utc_seconds": timestamp,
    }
    if audio is not None:
        doc["_attachments"] = {f"{media_id}.mp3": {"content_type": "audio/mpeg",
                                                     "data": base64.b64encode(audio).decode()}}
    return doc


async def store_doc(service, couch, api: Api, doc: dict) -> dict:
    """Write a document straight into the MODB its id names (created when missing)."""
    await create_modb(service, api, int(doc["_id"][:4]), int(doc["_id"][4:6]))
    return await couch.put(modb_of(api, doc["_id"]), doc)


def assert_error(response, status: int, message: str) -> dict:
    """A Crossbar error with this status and message; returns its data."""
    body = response.json
    assert response.status == status, body
    assert response.headers["Content-Type"] == "application/json"
    assert body["status"] == "error" and body["error"] == str(status) and body["message"] == message, body
    return body["data"]


def assert_bad_identifier(response, cause: str) -> None:
    assert assert_error(response, 404, "bad_identifier") == {"cause": cause, "message": "bad identifier"}
