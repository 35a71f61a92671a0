"""One voicemail message: load, present, create, change (folder, move, copy) and its audio
(kvm_message.erl, docs/kazoo-behaviour.md §6.9-§6.12, §6.15-§6.16)."""
from __future__ import annotations

import asyncio
import copy
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ..storage import Conflict, NotFound
from ..storage.dbnames import gregorian_now
from ..storage.design_docs import MODB
from ..storage.store import Prefetch, Store
from . import bulk_writes, folders, linked_audio, message_docs, retention
from .accounts import Account
from .actor import Actor
from .audio import AudioFile, attachment_name, identify
from .box_locks import BoxLocks
from .boxes import Boxes
from .errors import AlreadyExists, BadIdentifier, BoxBusy, Invalid, KeptChanging, field_error
from .ids import is_legacy_message_id, message_month
from .inputs import MessageChange
from .legacy_migration import LegacyMigration
from .lifecycle import Kind, MessageLifecycle
from .message_moves import Mover
from .validation import validate
from .values import JSON

SCHEMA = "vm_message_metadata"
SAVE_RETRIES = 5
NO_AUDIO = "voicemail message does not have any audio file"
# where the audio of this many messages was found last, per process (Message.audio's prefetch)
AUDIO_PLACES = 10_000
# the bytes of a recording a caller will read, given its length; None: none (HEAD, a range it cannot have)
Span = Callable[[int], "tuple[int, int] | None"]


@dataclass(frozen=True)
class AudioPlace:
    """Which attachment holds a message's audio: where it is, its name, length and digest."""
    db: str
    doc_id: str
    name: str
    length: int
    digest: str | None


@dataclass
class Audio:
    """A stored recording ready to be streamed: what it is, how long, and what to call it."""
    db: str
    doc_id: str
    name: str
    content_type: str
    length: int
    filename: str
    store: Store = field(repr=False)
    digest: str | None = None
    # bytes start..end asked for while the message was read, from where the audio was found before
    prefetched: tuple[int, int, Prefetch] | None = field(default=None, repr=False)

    @property
    def place(self) -> AudioPlace:
        return AudioPlace(self.db, self.doc_id, self.name, self.length, self.digest)

    def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes start..end (inclusive) of the recording, streamed."""
        if self.prefetched is not None and self.prefetched[:2] == (start, end):
            return self.prefetched[2].stream()
        return self.store.read_attachment(self.db, self.doc_id, self.name, start, end)

    async def close(self) -> None:
        """Drop the prefetch, read or not (what was not read, and its connection)."""
        if self.prefetched is not None:
            prefetch, self.prefetched = self.prefetched[2], None
            await prefetch.close()


class Message:
    def __init__(self, store: Store, boxes: Boxes, legacy: LegacyMigration, mover: Mover,
                 lifecycle: MessageLifecycle, locks: BoxLocks, retention_days: int):
        self.store = store
        self.locks = locks
        self.boxes = boxes
        self.legacy = legacy
        self.mover = mover
        self.lifecycle = lifecycle
        self.retention_days = retention_days
        self._audio_places: OrderedDict[tuple[str, str], AudioPlace] = OrderedDict()

    def cutoff(self) -> int:
        return retention.cutoff(self.retention_days)

    async def load(self, account: Account, box_id: str, message_id: str, *,
                   reading: bool = False) -> tuple[JSON, JSON]:
        """(box, message document): both must exist and the message must belong to the box.
        A legacy (3.x) id finds the message it was migrated to, once the box is migrated."""
        if message_month(message_id) is None and is_legacy_message_id(message_id):
            box = await self.legacy.box_for_messages(account, box_id)
            doc = await self._load_doc(account, (await self.legacy.resolve(account, [message_id]))[message_id])
        else:
            box, doc = await asyncio.gather((self.boxes.load_recent if reading else self.boxes.load)(account, box_id),
                                            self._load_doc(account, message_id), return_exceptions=True)
            if isinstance(box, BaseException):
                raise box
            migrated = await self.legacy.migrated(account, box)
            if migrated is not box and isinstance(doc, BadIdentifier):
                doc = await self._load_doc(account, message_id)  # the id may be one the migration just wrote
            box = migrated
            if isinstance(doc, BaseException):
                raise doc
        if doc.get("source_id", box_id) != box_id:
            raise BadIdentifier(message_id)
        return box, doc

    async def _load_doc(self, account: Account, message_id: str) -> JSON:
        if message_month(message_id) is None:
            raise BadIdentifier(message_id)
        try:
            doc = await self.store.get(message_docs.db_of(account, message_id), message_id)
        except NotFound:
            raise BadIdentifier(message_id) from None
        if not message_docs.is_message_of(doc, account):
            raise BadIdentifier(message_id)
        return doc

    def present(self, doc: JSON) -> JSON:
        """The metadata a client sees: with retention enforced on messages older than the window."""
        metadata = message_docs.metadata_of(doc)
        if retention.is_frozen(doc, self.cutoff()):
            return retention.enforce(metadata)
        return metadata

    async def fetch(self, account: Account, box_id: str, message_id: str) -> JSON:
        box, doc = await self.load(account, box_id, message_id, reading=True)
        doc = await self._ensure_folder(account, box_id, doc)
        return self.present(doc)

    async def _ensure_folder(self, account: Account, box_id: str, doc: JSON) -> JSON:
        """A message without a folder is given `new` when fetched, and that is saved (docs/differences.md) under
        the box's lock, as any folder change is, so that on a cluster it never overtakes one answered meanwhile.
        While the box stays busy past the lock's wait the message is served as `new`, unsaved: a read does not
        fail for it."""
        if (doc.get("metadata") or {}).get("folder"):
            return doc
        try:
            async with self.locks.hold(account, box_id):
                return await self._save_folder(account, doc["_id"])
        except BoxBusy:
            folders.apply(doc, folders.NEW)
            return doc

    async def _save_folder(self, account: Account, message_id: str) -> JSON:
        doc = await self._load_doc(account, message_id)  # again, under the lock
        if (doc.get("metadata") or {}).get("folder"):
            return doc
        old = copy.deepcopy(doc)
        folders.apply(doc, folders.NEW)
        try:
            await self.store.put(message_docs.db_of(account, doc["_id"]), doc)
        except Conflict:
            return await self._load_doc(account, doc["_id"])
        await self.lifecycle.written(account, doc["_id"], old, doc, Kind.CHANGED)
        return doc

    async def create(self, account: Account, box_id: str, fields: JSON, actor: Actor,
                     audio: AudioFile | None = None) -> JSON:
        """Store a new message (and its audio); the answer is its metadata."""
        box = await self.legacy.box_for_messages(account, box_id)
        fields = validate(SCHEMA, fields)
        _check_timestamp(fields)
        if audio is not None:
            duration = (await identify(audio)).duration_ms
            if "length" not in fields and duration is not None:
                fields["length"] = duration
        doc = message_docs.new_message(fields, box, account, actor)
        db = message_docs.db_of(account, doc["_id"])
        await self.store.put_creating_db(db, MODB, doc)
        if audio is not None:
            try:
                doc["_rev"] = await self._put_audio(db, doc, audio)
            except BaseException:
                await self._forget(db, doc)
                raise
        await self.lifecycle.written(account, doc["_id"], None, doc, Kind.CREATED)
        return self.present(doc)

    async def _forget(self, db: str, doc: JSON) -> None:
        """Remove a message whose audio could not be stored, so no message is left half made."""
        try:
            await self.store.delete(db, doc["_id"], doc["_rev"])
        except (NotFound, Conflict):
            pass

    async def _put_audio(self, db: str, doc: JSON, audio: AudioFile) -> str:
        name = attachment_name(audio.content_type, audio.filename, gregorian_now())
        return await self.store.put_attachment(db, doc["_id"], doc["_rev"], name, audio.content_type, audio.path,
                                               audio.size)

    async def replace_audio(self, account: Account, box_id: str, message_id: str, audio: AudioFile) -> JSON:
        """PUT .../raw: the message's audio becomes the uploaded file, and its length the file's.
        The new audio is stored before the old is dropped, so a failure never leaves the message silent."""
        async with self.locks.hold(account, box_id,
                                   lambda: self._changeable(account, box_id, message_id, deleted_too=True)):
            box, doc = await self._changeable(account, box_id, message_id, deleted_too=True)
            duration = (await identify(audio)).duration_ms
            db = message_docs.db_of(account, doc["_id"])
            await self._put_audio(db, doc, audio)
            for _ in range(SAVE_RETRIES):
                stored = await self.store.get(db, doc["_id"])
                old = copy.deepcopy(stored)
                newest = max(stored["_attachments"].items(), key=lambda item: item[1].get("revpos", 0))[0]
                stored["_attachments"] = {newest: stored["_attachments"][newest]}
                if duration is not None:
                    stored.setdefault("metadata", {})["length"] = duration
                stored["pvt_modified"] = gregorian_now()
                try:
                    await self.store.put(db, stored)
                except Conflict:
                    continue
                await self.lifecycle.written(account, stored["_id"], old, stored, Kind.CHANGED)
                return self.present(stored)
            raise KeptChanging()

    async def change_folder(self, account: Account, box_id: str, message_id: str, folder: str, *,
                            soft_delete: bool = False) -> JSON:
        """Move a message to a folder; with soft_delete, `deleted` also hides it (DELETE of a message).
        A soft-deleted message keeps its folder `deleted` (a folder change is 404, as in bulk and moves):
        otherwise it would be hidden from every listing while saying `new` or `saved`."""
        async with self.locks.hold(account, box_id,
                                   lambda: self._changeable(account, box_id, message_id, deleted_too=soft_delete)):
            for _ in range(SAVE_RETRIES):
                box, doc = await self._changeable(account, box_id, message_id, deleted_too=soft_delete)
                old = copy.deepcopy(doc)
                folders.apply(doc, folder, soft_delete=soft_delete)
                doc["pvt_modified"] = gregorian_now()
                try:
                    await self.store.put(message_docs.db_of(account, doc["_id"]), doc)
                except Conflict:
                    continue
                kind = Kind.DELETED if soft_delete and folder == folders.DELETED else Kind.CHANGED
                await self.lifecycle.written(account, doc["_id"], old, doc, kind)
                return self.present(doc)
            raise KeptChanging()

    async def _changeable(self, account: Account, box_id: str, message_id: str, *,
                          deleted_too: bool = False) -> tuple[JSON, JSON]:
        """The box and the message, when the message may be changed: not older than retention, and not
        soft-deleted unless `deleted_too`."""
        box, doc = await self.load(account, box_id, message_id)
        if doc.get("pvt_deleted") and not deleted_too:
            raise BadIdentifier(message_id)
        retention.check_changeable(doc, doc["_id"], self.cutoff())
        return box, doc

    async def delete(self, account: Account, box_id: str, message_id: str) -> JSON:
        """DELETE of a message: a soft delete."""
        return await self.change_folder(account, box_id, message_id, folders.DELETED, soft_delete=True)

    async def change(self, account: Account, box_id: str, message_id: str, change: MessageChange) -> JSON:
        """POST on a message: a folder change, or the move (answers the new message) or copy (answers the
        bulk result) of the message."""
        if change.targets is None:
            return await self.change_folder(account, box_id, message_id, folders.chosen(change.folder))
        boxes = await self.boxes.load_all(account, change.targets)
        _, doc = await self.load(account, box_id, message_id)  # a legacy id finds its message's id
        retention.check_changeable(doc, message_id, self.cutoff())  # checked first for a copy too, as Kazoo does
        if isinstance(change.targets, tuple):
            return (await self.mover.copy(account, box_id, [doc["_id"]], boxes, self.cutoff())).as_data()
        async with self.locks.hold(account, box_id):
            result = await self.mover.move(account, box_id, [doc["_id"]], boxes[0], self.cutoff())
        if not result.succeeded:
            raise self._move_failure(message_id, result.failed.get(doc["_id"], bulk_writes.NOT_FOUND))
        return await self.fetch(account, change.targets, result.succeeded[0])

    def _move_failure(self, message_id: str, reason: str) -> Exception:
        if reason == bulk_writes.PRIOR:
            return retention.prior_error(message_id, self.cutoff())
        if reason == bulk_writes.NOT_FOUND:
            return BadIdentifier(message_id)
        if reason == bulk_writes.CONFLICT:
            return AlreadyExists({"cause": message_id, "message": "the message is being moved to another box"})
        return Invalid({message_id: {reason: {"message": f"the message could not be moved: {reason}"}}})

    async def audio(self, account: Account, box_id: str, message_id: str, span: Span | None = None) -> Audio:
        """The message's audio, once the message is read and checked (box, account). With `span`, the bytes it
        chooses are asked for at once from the attachment that held this message's audio the last time, in
        parallel with the reads of the message: they are used (`Audio.read` of the same bytes) only when the
        message just read names that same attachment, with the same length and digest, else dropped. With a
        `span`, the caller must `close()` the Audio when done with it."""
        key = (account.id, message_id)
        prefetched = self._prefetch(self._audio_places.get(key), span)
        try:
            box, doc = await self.load(account, box_id, message_id, reading=True)
            doc = await self._ensure_folder(account, box_id, doc)
            db = message_docs.db_of(account, doc["_id"])
            holder = (await linked_audio.holders(self.store, account, [(db, doc)])).get(doc["_id"])
            if holder is None:
                raise BadIdentifier(message_id, cause=NO_AUDIO)
            audio = audio_of(self.store, doc, box, account, *holder)
        except BaseException:
            if prefetched is not None:
                await prefetched[1].close()
            raise
        self._remember(key, audio.place)
        if prefetched is not None:
            place, prefetch = prefetched
            if place == audio.place:
                audio.prefetched = (*place_span(place, span), prefetch)
            else:
                await prefetch.close()
        return audio

    def _prefetch(self, place: AudioPlace | None, span: Span | None) -> tuple[AudioPlace, Prefetch] | None:
        wanted = None if place is None or span is None else place_span(place, span)
        if wanted is None:
            return None
        start, end = wanted
        return place, self.store.prefetch_attachment(place.db, place.doc_id, place.name, start, end)

    def _remember(self, key: tuple[str, str], place: AudioPlace) -> None:
        self._audio_places[key] = place
        self._audio_places.move_to_end(key)
        while len(self._audio_places) > AUDIO_PLACES:
            self._audio_places.popitem(last=False)


def audio_of(store: Store, doc: JSON, box: JSON, account: Account, db: str, holder: JSON) -> Audio:
    """The stream of a message's audio, kept in `holder` (the message itself or the document it links to)."""
    name, stub = next(iter(holder["_attachments"].items()))
    return Audio(db, holder["_id"], name, stub.get("content_type") or "application/octet-stream",
                 int(stub.get("length") or 0), download_name(doc, box, account, name), store, stub.get("digest"))


def place_span(place: AudioPlace, span: Span) -> tuple[int, int] | None:
    """The bytes `span` chooses of the recording at `place`; None for none."""
    if place.length <= 0:
        return None
    return span(place.length)


def _check_timestamp(fields: JSON) -> None:
    """A message's month must be one its id can name, or it could never be found again."""
    timestamp = fields.get("timestamp")
    if timestamp is None:
        return
    if timestamp < message_docs.EARLIEST:
        raise field_error("timestamp", "minimum", f"Value must be at least {message_docs.EARLIEST}",
                          target=message_docs.EARLIEST, value=timestamp)
    if timestamp > message_docs.LATEST:
        raise field_error("timestamp", "maximum", f"Value must be at most {message_docs.LATEST}",
                          target=message_docs.LATEST, value=timestamp)


def download_name(doc: JSON, box: JSON, account: Account, attachment: str) -> str:
    """`<caller id>_<YYYY-MM-DD>_<HH:MM:SS>.<ext>` in the box's timezone (cb_vmboxes)."""
    metadata: JSON = doc.get("metadata") or {}
    caller = str(metadata.get("caller_id_number") or "unknown")
    timestamp = next((value for value in (metadata.get("timestamp"), retention.message_time(doc))
                      if message_docs.nameable(value)), gregorian_now())
    moment, _ = message_docs.local_time(timestamp, message_docs.box_timezone(box, account))
    extension = "." + attachment.rsplit(".", 1)[1] if "." in attachment else ""
    safe_caller = "".join(c if c.isalnum() or c in "+-_.@" else "_" for c in caller)
    return f"{safe_caller}_{moment:%Y-%m-%d}_{moment:%H:%M:%S}{extension}"
