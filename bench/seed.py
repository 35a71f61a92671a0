"""Benchmark data written straight into CouchDB: accounts (through the domain, as `kazoo-vm accounts create`
makes them), boxes and messages with `_bulk_docs` into the account database and the monthly databases, in
the shapes the service writes (message_docs.new_message), and Kazoo 3.x boxes with `private_media`
documents. View indexes are built here, with a long timeout, before the service is asked anything."""
from __future__ import annotations

import base64
import os
import secrets
import struct
from collections.abc import Callable

from kazoo_vm.config import Settings
from kazoo_vm.storage import NotFound
from kazoo_vm.storage.dbnames import (ACCOUNTS_DB, account_db, encoded, gregorian_now, modb, months_between,
                                      year_month)
from kazoo_vm.storage.design_docs import MODB
from kazoo_vm.voicemail.accounts import Account
from kazoo_vm.voicemail.audio import attachment_name
from kazoo_vm.voicemail.actor import Actor
from kazoo_vm.voicemail.values import alphanum
from kazoo_vm.voicemail.message_docs import new_message
from kazoo_vm.voicemail.service import Voicemail
from kazoo_vm.voicemail.validation import validate

DAY = 86400
ACTOR = Actor(request_id="kazoo-vm-bench")
BULK_COUNT = 500
BULK_BYTES = 16 * 1024 * 1024
# one view per design document of a monthly database: querying it brings every view of that document up to date
MODB_INDEXES = [("mailbox_messages", "listing_by_mailbox"), ("kazoo_vm_messages", "box_folder_counts")]


def wav(size: int) -> bytes:
    """A WAV file (8 kHz, 16 bit, mono) of exactly `size` bytes, random samples."""
    data = max(size - 44, 0)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data, b"WAVE", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16,
                         b"data", data)
    return header + os.urandom(data)


def spread(count: int, days: float, newest_age: int = 120) -> list[int]:
    """`count` distinct Gregorian times, newest first, from `newest_age` seconds ago back over `days` days."""
    now = gregorian_now() - newest_age
    step = max(int(days * DAY) // max(count, 1), 1)
    return [now - index * step for index in range(count)]


def months_back(count: int) -> list[tuple[int, int]]:
    """The current UTC month and the `count - 1` before it, newest first."""
    year, month = year_month(gregorian_now())
    index = year * 12 + month - 1
    return [((index - back) // 12, (index - back) % 12 + 1) for back in range(count)]


def attachment(audio: bytes, timestamp: int, content_type: str = "audio/wav", name: str | None = None) -> dict:
    """An inline `_attachments` entry, named as the service names uploads unless a name is given."""
    name = name or attachment_name(content_type, None, timestamp)
    return {name: {"content_type": content_type, "data": base64.b64encode(audio).decode()}}


class Seeder:
    def __init__(self, couch_url: str):
        self.voicemail = Voicemail(Settings(couchdb_url=couch_url, couch_timeout=3600.0))
        self.couch = self.voicemail.store.client
        self.store = self.voicemail.store
        self.account_ids: list[str] = []
        self.scratch_dbs: list[str] = []
        self._modbs: set[str] = set()

    async def account(self, name: str) -> Account:
        account, _ = await self.voicemail.accounts.create(name)
        self.account_ids.append(account.id)
        return account

    async def bulk(self, db: str, docs: list[dict]) -> list[dict]:
        """`_bulk_docs` in chunks (by count and size); every document must be stored."""
        results, chunk, size = [], [], 0
        for doc in docs:
            doc_size = sum(len(stub.get("data", "")) for stub in (doc.get("_attachments") or {}).values()) + 1024
            if chunk and (len(chunk) >= BULK_COUNT or size + doc_size > BULK_BYTES):
                results += await self._bulk_chunk(db, chunk)
                chunk, size = [], 0
            chunk.append(doc)
            size += doc_size
        if chunk:
            results += await self._bulk_chunk(db, chunk)
        return results

    async def _bulk_chunk(self, db: str, docs: list[dict]) -> list[dict]:
        results = await self.couch.bulk_docs(db, docs)
        failed = [result for result in results if "error" in result]
        if failed:
            raise RuntimeError(f"seeding {db} failed: {failed[:3]}")
        return results

    async def boxes(self, account: Account, count: int, name: str = "Bench box") -> list[dict]:
        """vmbox documents as `PUT /vmboxes` stores them (schema defaults, pvt fields)."""
        now, docs = gregorian_now(), []
        for index in range(count):
            fields = validate("vmboxes", {"name": f"{name} {index}", "mailbox": str(100000 + index), "pin": "1234"})
            docs.append(self._box_doc(account, fields, now))
        await self.bulk(account.db, docs)
        return docs

    def _box_doc(self, account: Account, fields: dict, now: int) -> dict:
        return {**fields, "_id": secrets.token_hex(16), "pvt_type": "vmbox", "pvt_vsn": "1",
                "pvt_account_id": account.id, "pvt_account_db": encoded(account.db), "pvt_created": now,
                "pvt_modified": now, "pvt_request_id": ACTOR.request_id, "pvt_is_authenticated": True,
                "pvt_alphanum_name": alphanum(fields.get("name", ""))}

    async def modb(self, account: Account, year: int, month: int) -> str:
        """A monthly database, created with its design documents."""
        db = modb(account.id, year, month)
        if db not in self._modbs:
            await self.store.create_db(db, MODB)
            self._modbs.add(db)
        return db

    async def messages(self, account: Account, box: dict, timestamps: list[int], *,
                       audio: Callable[[int], bytes] | None = None, folder: str = "new") -> list[str]:
        """Messages of `box` at these times (ids returned in the same order), each in the monthly database
        of its time; `audio(index)` gives each one's recording."""
        return await self.many(account, [(box, timestamp) for timestamp in timestamps], audio=audio, folder=folder)

    async def many(self, account: Account, items: list[tuple[dict, int]], *,
                   audio: Callable[[int], bytes] | None = None, folder: str = "new") -> list[str]:
        """Messages, one per (box, time), written with `_bulk_docs` per monthly database."""
        by_db: dict[str, list[dict]] = {}
        ids = []
        for index, (box, timestamp) in enumerate(items):
            fields = {"timestamp": timestamp, "caller_id_number": str(2000 + index % 7000),
                      "caller_id_name": f"Caller {index}", "folder": folder, "length": 2000 + index % 5000}
            doc = new_message(fields, box, account, ACTOR)
            if audio is not None:
                doc["_attachments"] = attachment(audio(index), timestamp)
            by_db.setdefault(await self.modb(account, *year_month(timestamp)), []).append(doc)
            ids.append(doc["_id"])
        for db, docs in by_db.items():
            await self.bulk(db, docs)
        return ids

    async def legacy_boxes(self, account: Account, boxes: int, per_box: int, days: float,
                           audio_size: int) -> list[str]:
        """Kazoo 3.x boxes: a `messages` array per box (oldest first, as 3.x appended them) and a
        `private_media` document with a small recording per entry. Returns the media ids."""
        now = gregorian_now()
        box_docs, media = [], []
        for number in range(boxes):
            box_id, entries = secrets.token_hex(16), []
            for index, timestamp in enumerate(reversed(spread(per_box, days, newest_age=3600 + number))):
                media_id = secrets.token_hex(16)
                entries.append({"timestamp": timestamp, "from": f"{1000 + index}@legacy.example.com",
                                "to": f"{3000 + number}@legacy.example.com", "caller_id_number": str(1000 + index),
                                "caller_id_name": f"Caller {index}", "call_id": f"{media_id}@10.26.0.190",
                                "folder": ("new", "saved")[index % 2], "length": 1000 + index, "media_id": media_id})
                media.append({"_id": media_id, "pvt_type": "private_media",
                              "name": f"mailbox {3000 + number} message",
                              "description": "voicemail message media", "source_type": "voicemail",
                              "source_id": box_id, "media_source": "recording", "media_filename": f"{media_id}.wav",
                              "streamable": True, "pvt_account_id": account.id,
                              "pvt_account_db": encoded(account.db), "pvt_created": timestamp,
                              "pvt_modified": timestamp, "_attachments": attachment(wav(audio_size), timestamp, name=f"{media_id}.wav")})
            fields = validate("vmboxes", {"name": f"Legacy box {number}", "mailbox": str(3000 + number)})
            box_docs.append({**self._box_doc(account, fields, now), "_id": box_id, "messages": entries})
        await self.bulk(account.db, media)
        await self.bulk(account.db, box_docs)
        return [doc["_id"] for doc in media]

    async def scratch_db(self) -> str:
        db = f"kazoo-vm-bench-{secrets.token_hex(6)}"
        await self.couch.db_create(db)
        self.scratch_dbs.append(db)
        return db

    async def warm(self, db: str, design: str, view: str, **params) -> None:
        """Build a view's index (PouchDB Server builds it on the first query, slowly)."""
        try:
            await self.couch.view(db, design, view, limit=1, **params)
        except NotFound:
            pass

    async def warm_modbs(self, account: Account, months: list[tuple[int, int]],
                         views: list[tuple[str, str]] = MODB_INDEXES) -> None:
        for year, month in months:
            for design, view in views:
                await self.warm(modb(account.id, year, month), design, view)

    async def cleanup(self) -> None:
        """Remove every database and account document the benchmark made (for a shared CouchDB)."""
        year, month = year_month(gregorian_now())
        months = months_between((year - 2, month), (year, month))
        for account_id in self.account_ids:
            for db in [account_db(account_id)] + [modb(account_id, y, m) for y, m in months]:
                await self.couch.db_delete(db)
            doc = await self.couch.get_or_none(ACCOUNTS_DB, account_id)
            if doc is not None:
                await self.couch.delete(ACCOUNTS_DB, account_id, doc["_rev"])
        for db in self.scratch_dbs:
            await self.couch.db_delete(db)

    async def close(self) -> None:
        await self.voicemail.close()
