"""Kazoo 3.x voicemail built straight into CouchDB (docs/kazoo-behaviour.md §2.3): a vmbox document whose `messages`
array lists the recordings, each in a `private_media` document of the account database, and what the
migration should make of them (docs/kazoo-behaviour.md §8, issue 5)."""
from __future__ import annotations

import base64
import io
import secrets
import wave
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from kazoo_vm.storage.dbnames import account_db, encoded, gregorian_now, modb, year_month
from message_helpers import audio_bytes

MISSING = object()  # a field left out altogether
DEFAULT = object()  # a field given its usual value
ENTRY_FIELDS = ("from", "to", "caller_id_number", "caller_id_name", "call_id", "folder", "length")
HOUR = 3600
DAY = 86400


def wav(seed: int, seconds: float = 0.2) -> bytes:
    """A small 8 kHz WAV whose samples depend on seed, so that no two recordings are alike."""
    frames = bytes((seed * 31 + i * (seed % 7 + 1)) % 256 for i in range(int(8000 * seconds)))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(frames + seed.to_bytes(4, "big"))
    return out.getvalue()


def recent(index: int) -> int:
    """Distinct times of the last days, well within retention (they may fall in two months)."""
    return gregorian_now() - HOUR * (index + 1) - 17 * index


def new_id_of(media_id: str, timestamp: int) -> str:
    year, month = year_month(timestamp)
    return f"{year:04d}{month:02d}-{media_id}"


@dataclass
class Legacy:
    """One 3.x message: its entry in the box's array, its media document (None: there is none) and the
    recording in it (None: the document has no attachment)."""
    entry: dict
    media: dict | None
    audio: bytes | None
    content_type: str

    @property
    def media_id(self) -> Any:
        return self.entry.get("media_id")


def legacy_message(account_id: str, timestamp: Any, *, seed: int | None = None, media_id: Any = None,
                   media: bool = True, audio: bytes | None | object = MISSING, content_type: str = "audio/wav",
                   created: Any = DEFAULT, modified: Any = DEFAULT, **fields: Any) -> Legacy:
    """An entry as cf_voicemail 3.x wrote it, and its private_media document. `timestamp=MISSING` leaves
    the key out; `created`/`modified` are the media document's pvt times (MISSING: left out; by default
    the timestamp, or a day ago when the timestamp is not a number)."""
    seed = secrets.randbelow(10 ** 6) if seed is None else seed
    media_id = secrets.token_hex(16) if media_id is None else media_id
    when = timestamp if isinstance(timestamp, int) else gregorian_now() - DAY
    entry = {"timestamp": timestamp, "from": f"{1000 + seed % 9000}@legacy.example.com",
             "to": "3001@legacy.example.com", "caller_id_number": str(1000 + seed % 9000),
             "caller_id_name": f"Caller {seed}", "call_id": f"{seed}-{secrets.token_hex(6)}@10.26.0.190",
             "folder": ("new", "saved")[seed % 2], "length": 1000 + seed % 50_000, "media_id": media_id, **fields}
    entry = {key: value for key, value in entry.items() if value is not MISSING}
    if media_id is MISSING or not media_id:
        return Legacy(entry, None, None, content_type)
    recording = wav(seed) if audio is MISSING else audio
    doc = None
    if media:
        doc = {"_id": media_id, "pvt_type": "private_media", "name": f"mailbox 3001 message {seed}",
               "description": "voicemail message media", "source_type": "voicemail", "media_source": "recording",
               "media_filename": f"{media_id}.wav", "streamable": True, "pvt_account_id": account_id,
               "pvt_account_db": encoded(account_db(account_id)),
               "pvt_created": when if created is DEFAULT else created,
               "pvt_modified": when if modified is DEFAULT else modified}
        doc = {key: value for key, value in doc.items() if value is not MISSING}
        if recording is not None:
            doc["_attachments"] = {f"{media_id}.wav": {"content_type": content_type,
                                                        "data": base64.b64encode(recording).decode()}}
    return Legacy(entry, doc, recording if doc else None, content_type)


def mp3_message(account_id: str, timestamp: int, **kw: Any) -> Legacy:
    return legacy_message(account_id, timestamp, audio=audio_bytes("mp3"), content_type="audio/mpeg", **kw)


@dataclass
class LegacyData:
    """Writes 3.x boxes into account databases, and remembers the monthly databases a migration of them
    may create, so that a test can remove those a subprocess made."""
    couch: Any
    months: set[tuple[str, int, int]] = field(default_factory=set)

    async def box(self, account_id: str, messages: list[Legacy], **fields: Any) -> dict:
        """A vmbox with these legacy messages (and their media documents); returns the stored box."""
        box_id = secrets.token_hex(16)
        for message in messages:
            if message.media is not None:
                message.media["source_id"] = box_id
                await self.couch.put(account_db(account_id), message.media)
            media = message.media or {}
            self.expect_months(account_id, message.entry.get("timestamp"), media.get("pvt_created"),
                               media.get("pvt_modified"))
        now = gregorian_now()
        box = {"_id": box_id, "pvt_type": "vmbox", "mailbox": str(3000 + secrets.randbelow(6_000_000)),
               "name": f"Legacy box {box_id[:6]}", "pvt_account_id": account_id,
               "pvt_account_db": encoded(account_db(account_id)), "pvt_vsn": "1", "pvt_created": now - 400 * DAY,
               "pvt_modified": now - DAY, "require_pin": False, "check_if_owner": True,
               "messages": [message.entry for message in messages], **fields}
        box = {key: value for key, value in box.items() if value is not MISSING}
        self.expect_months(account_id, box.get("pvt_modified"), box.get("pvt_created"), now, now + 2 * DAY)
        return await self.couch.put(account_db(account_id), box)

    def expect_months(self, account_id: str, *times: Any) -> None:
        for value in times:
            if isinstance(value, str) and value.isdigit():
                value = int(value)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                self.months.add((account_id, *year_month(value)))

    def modbs(self, account_id: str) -> list[str]:
        return [modb(account_id, year, month) for owner, year, month in sorted(self.months) if owner == account_id]

    async def drop_modbs(self) -> None:
        for account_id, year, month in self.months:
            await self.couch.db_delete(modb(account_id, year, month))


async def attachment(couch, db: str, doc_id: str, name: str) -> bytes:
    async with couch.open_attachment(db, doc_id, name) as resp:
        return await resp.read()


async def all_docs(couch, db: str) -> list[dict]:
    """Every document of a database (none when it does not exist), design documents left out."""
    if not await couch.db_exists(db):
        return []
    result = await couch.request("GET", f"{quote(db, safe='')}/_all_docs", params={"include_docs": "true"})
    return [row["doc"] for row in result["rows"] if not row["id"].startswith("_design/")]


async def migrated_copies(couch, data: LegacyData, account_id: str) -> Counter:
    """How many message documents each legacy media id became, over every month the test touched."""
    found: Counter = Counter()
    for db in data.modbs(account_id):
        for doc in await all_docs(couch, db):
            if doc.get("pvt_previous_id"):
                found[doc["pvt_previous_id"]] += 1
    return found


async def revisions(couch, data: LegacyData, account_id: str) -> dict[str, str]:
    """`_rev` of every document of the account database and of the months the test touched."""
    revs = {}
    for db in [account_db(account_id), *data.modbs(account_id)]:
        for doc in await all_docs(couch, db):
            revs[f"{db}/{doc['_id']}"] = doc["_rev"]
    return revs


async def assert_migrated(couch, account_id: str, box_id: str, message: Legacy, timestamp: int) -> dict:
    """The message is `YYYYMM-<media id>` in the month of `timestamp`, with the entry's metadata, the
    migration marks and the recording byte for byte; the legacy media document is still there, marked with
    the new id."""
    message_id = new_id_of(message.media_id, timestamp)
    db = modb(account_id, *year_month(timestamp))
    doc = await couch.get(db, message_id)
    assert doc["pvt_type"] == "mailbox_message" and doc["source_id"] == box_id
    assert doc["pvt_account_id"] == account_id and doc["pvt_account_db"] == encoded(db)
    assert doc["pvt_moved_to_modb"] == "true" and doc["pvt_previous_id"] == message.media_id
    metadata = doc["metadata"]
    assert {key: metadata[key] for key in ENTRY_FIELDS} == {key: message.entry[key] for key in ENTRY_FIELDS}
    assert metadata["timestamp"] == timestamp and metadata["media_id"] == message_id
    [(name, stub)] = doc["_attachments"].items()
    assert stub["content_type"] == message.content_type
    assert await attachment(couch, db, message_id, name) == message.audio
    legacy = await couch.get(account_db(account_id), message.media_id)
    assert legacy["pvt_type"] == "private_media" and legacy["_attachments"]
    assert legacy["pvt_migrated_to"] == message_id
    return doc


def failed_entry(message: Legacy, reason: str) -> dict:
    return {**message.entry, "migration_error": reason}


async def write_half_migrated(couch, data: LegacyData, account_id: str, box: dict, message: Legacy, *,
                              marked: bool = False, with_audio: bool = True) -> dict:
    """What a migration stopped in the middle of a batch leaves: the message document written with its
    audio (or, stopped between the two, without it), while the box still lists the entry (and, unless
    `marked`, the media document is untouched)."""
    timestamp = message.entry["timestamp"]
    message_id = new_id_of(message.media_id, timestamp)
    db = modb(account_id, *year_month(timestamp))
    data.expect_months(account_id, timestamp)
    await couch.db_create(db)
    metadata = {key: message.entry[key] for key in ENTRY_FIELDS}
    doc = {"_id": message_id, "pvt_type": "mailbox_message", "source_id": box["_id"], "source_type": "voicemail",
           "description": "voicemail message with media", "media_source": "recording", "streamable": True,
           "name": f"mailbox {box['mailbox']} message", "utc_seconds": timestamp,
           "metadata": {**metadata, "timestamp": timestamp, "media_id": message_id},
           "pvt_moved_to_modb": "true", "pvt_previous_id": message.media_id, "pvt_account_id": account_id,
           "pvt_account_db": encoded(db), "pvt_created": timestamp, "pvt_modified": timestamp,
           "_attachments": {f"{message.media_id}.wav": {"content_type": message.content_type,
                                                         "data": base64.b64encode(message.audio).decode()}}}
    if not with_audio:
        del doc["_attachments"]
    stored = await couch.put(db, doc)
    if marked:
        media = await couch.get(account_db(account_id), message.media_id)
        await couch.put(account_db(account_id), {**media, "pvt_migrated_to": message_id})
    return stored
