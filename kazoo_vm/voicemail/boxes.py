"""Voicemail boxes: the `vmbox` documents of an account database (cb_vmboxes.erl,
docs/kazoo-behaviour.md §6.1-§6.6)."""
from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from ..storage import JSON, Conflict, NotFound
from ..storage.dbnames import encoded, gregorian_now
from ..storage.design_docs import ACCOUNT
from ..storage.store import Store
from . import filters, paging
from .accounts import Account
from .actor import Actor
from .errors import AlreadyExists, BadIdentifier, Invalid, StorageBusy
from .ids import is_box_id, new_id
from .inputs import ListingQuery
from .keyed_locks import Busy, KeyedLocks
from .lifecycle import VMBOX, Kind, MessageLifecycle
from .mailbox_claims import MailboxClaims
from .validation import schema, validate
from .values import alphanum, deep_merge

SCHEMA = "vmboxes"
IGNORED_KEYS = {"ui_metadata", "accept_charges", "id"}
LEGACY_EMAIL_KEY = "notify_email_address"
MIGRATE_NOTICE = "Please migrate your voicemail box messages to MODB"
SAVE_RETRIES = 10
TAKEN_MESSAGE = "Invalid mailbox number or already exists"
RECENT_SECONDS = 2.0
RECENT_LIMIT = 10_000


@dataclass
class BoxResult:
    box: JSON
    rev: str | None = None
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def is_private(key: str) -> bool:
    return key.startswith("_") or key.startswith("pvt_")


def public(doc: Mapping[str, Any]) -> JSON:
    """What a client sees of a box: public fields and `id`, never the legacy `messages` array."""
    out = {key: value for key, value in doc.items() if not is_private(key) and key != "messages"}
    out["id"] = doc["_id"]
    return out


def client_fields(data: Mapping[str, Any]) -> JSON:
    return {key: value for key, value in data.items() if not is_private(key) and key not in IGNORED_KEYS}


def mailbox_key(mailbox: str) -> str:
    """Numeric mailboxes compare as numbers ("03000" is "3000"), others as exact strings; the same
    normalisation as the `kazoo_vm/vmbox_by_mailbox` view (digit strings of any length stay exact)."""
    digits = mailbox.strip()
    if re.fullmatch(r"[0-9]+", digits):
        return digits.lstrip("0") or "0"
    return mailbox


def _mailbox_taken_error() -> JSON:
    """A new dict each time: schema errors are merged into it."""
    return {"mailbox": {"unique": {"message": TAKEN_MESSAGE}}}


def is_box(doc: JSON | None, account: Account) -> bool:
    return (doc is not None and doc.get("pvt_type") == "vmbox" and not doc.get("pvt_deleted")
            and doc.get("pvt_account_id", account.id) == account.id)


class Boxes:
    def __init__(self, store: Store, page_size: int = 50, lifecycle: MessageLifecycle | None = None):
        self.store = store
        self.page_size = page_size
        self.lifecycle = lifecycle or MessageLifecycle()
        self._locks = KeyedLocks()
        self._recent: dict[tuple[str, str], tuple[float, JSON]] = {}
        self.claims = MailboxClaims(store, mailbox_key)

    @asynccontextmanager
    async def _writing(self, account: Account) -> AsyncIterator[None]:
        """One box write of an account at a time (mailbox uniqueness). Waiting for the writes before this one
        is waiting for CouchDB, so it is bounded by the CouchDB timeout: a hung CouchDB cannot queue requests
        behind each other for longer than that."""
        try:
            async with self._locks.hold(account.id, self.store.timeout):
                yield
        except Busy:
            raise StorageBusy() from None

    async def load(self, account: Account, box_id: str) -> JSON:
        """The stored box document; 404 bad_identifier for anything that is not a live box of this account."""
        if not is_box_id(box_id):
            raise BadIdentifier(box_id)
        try:
            doc = await self.store.get(account.db, box_id)
        except NotFound:
            raise BadIdentifier(box_id) from None
        if not is_box(doc, account):
            raise BadIdentifier(box_id)
        return doc

    async def load_all(self, account: Account, box_ids: str | tuple[str, ...]) -> list[JSON]:
        """Every box named, loaded before anything changes (404 for the first one missing)."""
        return [await self.load(account, box_id) for box_id in
                ([box_ids] if isinstance(box_ids, str) else list(dict.fromkeys(box_ids)))]

    async def load_present(self, account: Account, box_ids: list[str]) -> dict[str, JSON]:
        """The live boxes of this account among those named, by id, with one read; the others are passed over."""
        ids = [box_id for box_id in dict.fromkeys(box_ids) if is_box_id(box_id)]
        rows = await self.store.many(account.db, ids) if ids else []
        return {row["key"]: row["doc"] for row in rows if row.get("doc") and is_box(row["doc"], account)}

    async def load_recent(self, account: Account, box_id: str) -> JSON:
        """load(), for requests that only read messages: a box read in the last RECENT_SECONDS is not read
        again (a message read then costs one CouchDB request). A box this process writes is forgotten at
        once; one deleted by another process may answer for up to RECENT_SECONDS more. Boxes that still
        hold legacy messages are always read, so that they are migrated."""
        key = (account.id, box_id)
        found = self._recent.get(key)
        if found and found[0] > time.monotonic():
            return found[1]
        box = await self.load(account, box_id)
        if not box.get("messages"):
            if len(self._recent) > RECENT_LIMIT:
                self._recent.clear()
            self._recent[key] = (time.monotonic() + RECENT_SECONDS, box)
        return box

    async def _save_claiming(self, account: Account, doc: JSON, old_mailbox: Any) -> None:
        """Save a box with the claim of its mailbox: a new mailbox is claimed first (400 unique when another
        box holds it, even one another process is writing right now), the old one released once saved."""
        new_key = mailbox_key(doc["mailbox"])
        old_key = mailbox_key(old_mailbox) if isinstance(old_mailbox, str) else None
        if new_key == old_key:
            return await self._save(account, doc)
        if not await self.claims.claim(account, new_key, doc["_id"]):
            raise Invalid(_mailbox_taken_error())
        try:
            await self._save(account, doc)
        except BaseException:
            await self.claims.release(account, new_key, doc["_id"])
            raise
        if old_key is not None:
            await self.claims.release(account, old_key, doc["_id"])

    async def _save(self, account: Account, doc: JSON) -> None:
        """Store a box; a recent read of it is forgotten once the write is done."""
        try:
            await self.store.put(account.db, doc)
        finally:
            self._recent.pop((account.id, doc["_id"]), None)

    async def create(self, account: Account, data: Mapping[str, Any], actor: Actor) -> BoxResult:
        fields, warnings = _upgrade_legacy_keys(client_fields(data))
        box_id = data.get("id")
        if box_id is not None and (not isinstance(box_id, str) or not is_box_id(box_id)):
            raise Invalid({"id": {"pattern": {"message": "Invalid id: use 32 lowercase hex or letters, digits, "
                                                         "'-' and '_' (at most 64)", "value": box_id}}})
        fields.pop("messages", None)
        async with self._writing(account):
            valid = await self._validate(account, fields, box_id)
            doc = {**valid, "_id": box_id or new_id(), "pvt_type": "vmbox"}
            _stamp(doc, account, actor, created=True)
            try:
                await self._save_claiming(account, doc, None)
            except Conflict:
                raise AlreadyExists({"cause": doc["_id"], "message": "a document with this id already exists"}) from None
        await self.lifecycle.written(account, doc["_id"], None, doc, Kind.CREATED, VMBOX)
        return BoxResult(public(doc), doc["_rev"], warnings=warnings)

    async def replace(self, account: Account, box_id: str, data: Mapping[str, Any], actor: Actor) -> BoxResult:
        """POST: the box becomes the sent public fields (defaults re-applied) plus its private fields."""
        fields, warnings = _upgrade_legacy_keys(client_fields(data))
        return await self._update(account, box_id, actor, lambda stored: fields, warnings)

    async def patch(self, account: Account, box_id: str, data: Mapping[str, Any], actor: Actor) -> BoxResult:
        """PATCH: the sent fields deep-merged onto the stored public fields, then validated as a whole."""
        fields, warnings = _upgrade_legacy_keys(client_fields(data))
        return await self._update(account, box_id, actor,
                                  lambda stored: deep_merge(client_fields(stored), fields), warnings,
                                  validate_first=False)

    async def _update(self, account: Account, box_id: str, actor: Actor, build, warnings: list[str], *,
                      validate_first: bool = True) -> BoxResult:
        if not is_box_id(box_id):
            raise BadIdentifier(box_id)
        for attempt in range(SAVE_RETRIES):
            async with self._writing(account):
                if validate_first:
                    stored = await self._load_for_update(account, box_id, build)
                else:
                    stored = await self.load(account, box_id)
                fields = build(stored)
                fields.pop("messages", None)
                valid = await self._validate(account, fields, box_id)
                doc = {key: value for key, value in stored.items() if is_private(key)}
                doc.update(valid)
                notices = []
                if stored.get("messages"):
                    doc["messages"] = stored["messages"]
                    notices.append(MIGRATE_NOTICE)
                _stamp(doc, account, actor, created=False)
                try:
                    await self._save_claiming(account, doc, stored.get("mailbox"))
                except Conflict:
                    await asyncio.sleep(0.01 * attempt)
                    continue
            await self.lifecycle.written(account, doc["_id"], stored, doc, Kind.CHANGED, VMBOX)
            return BoxResult(public(doc), doc["_rev"], notices, warnings)
        raise AlreadyExists({"cause": box_id, "message": "the box kept changing; try again"})

    async def _load_for_update(self, account: Account, box_id: str, build) -> JSON:
        """Load the box, but report invalid data first (400 before 404, as Kazoo validates a POST first;
        a PATCH loads first, as it has nothing to merge onto)."""
        try:
            return await self.load(account, box_id)
        except BadIdentifier:
            fields = build({"_id": box_id})
            fields.pop("messages", None)
            await self._validate(account, fields, box_id)
            raise

    async def delete(self, account: Account, box_id: str, actor: Actor) -> JSON:
        """Soft delete; the mailbox number is free again. The box's messages are deleted by the caller first."""
        for _ in range(SAVE_RETRIES):
            doc = await self.load(account, box_id)
            old = dict(doc) if self.lifecycle.listening else None
            doc["pvt_deleted"] = True
            _stamp(doc, account, actor, created=False)
            try:
                await self._save(account, doc)
            except Conflict:
                continue
            await self.lifecycle.written(account, box_id, old, doc, Kind.DELETED, VMBOX)
            if isinstance(doc.get("mailbox"), str):
                await self.claims.release(account, mailbox_key(doc["mailbox"]), box_id)
            return {**public(doc), "_read_only": {"deleted": True}}
        raise AlreadyExists({"cause": box_id, "message": "the box kept changing; try again"})

    async def listing(self, account: Account, query: ListingQuery) -> paging.Page:
        """Rows of `crossbar_listing` by id, filtered on the whole document by `filter_*` parameters."""
        accept = filters.build(query.filters)
        page_size = (query.page_size or self.page_size) if query.paginate else None
        start = paging.Cursor.decode(query.start_key, "") if query.paginate and query.start_key else None
        segment = paging.Segment("", account.db, ACCOUNT, "vmboxes", "crossbar_listing",
                                 {"include_docs": True} if accept else {})
        page = await paging.collect(self.store, [segment], (lambda row: accept(row["doc"])) if accept else None,
                                    page_size, start)
        for row in page.rows:
            row.pop("doc", None)
        return page

    async def _validate(self, account: Account, fields: JSON, box_id: str | None) -> JSON:
        errors: JSON = {}
        mailbox = fields.get("mailbox")
        longest = schema(SCHEMA)["properties"]["mailbox"]["maxLength"]  # a longer one is refused, never looked up
        if isinstance(mailbox, str) and len(mailbox) <= longest \
                and await self._mailbox_taken(account, mailbox, box_id):
            errors.update(_mailbox_taken_error())
        try:
            valid = validate(SCHEMA, fields)
        except Invalid as invalid:
            for name, rules in invalid.data.items():
                errors.setdefault(name, {}).update(rules)
            raise Invalid(errors) from None
        if errors:
            raise Invalid(errors)
        return valid

    async def _mailbox_taken(self, account: Account, mailbox: str, own_id: str | None) -> bool:
        rows = await self.store.rows(account.db, ACCOUNT, "kazoo_vm", "vmbox_by_mailbox", key=mailbox_key(mailbox))
        return any(row["id"] != own_id for row in rows)


def _upgrade_legacy_keys(fields: JSON) -> tuple[JSON, list[str]]:
    old = fields.get(LEGACY_EMAIL_KEY)
    if old is None:
        return fields, []
    fields["notify_email_addresses"] = old if isinstance(old, list) else [old]
    return fields, [f"214 Transformation applied: attribute {LEGACY_EMAIL_KEY} replaced"]


def _stamp(doc: JSON, account: Account, actor: Actor, *, created: bool) -> None:
    now = gregorian_now()
    doc.setdefault("pvt_vsn", "1")
    doc["pvt_account_id"] = account.id
    doc["pvt_account_db"] = encoded(account.db)
    if created or "pvt_created" not in doc:
        doc["pvt_created"] = now
    doc["pvt_modified"] = now
    doc["pvt_request_id"] = actor.request_id
    doc["pvt_is_authenticated"] = True
    if actor.auth_account_id:
        doc["pvt_auth_account_id"] = actor.auth_account_id
    if "name" in doc:
        doc["pvt_alphanum_name"] = alphanum(doc["name"])
