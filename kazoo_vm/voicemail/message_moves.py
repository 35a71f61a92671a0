"""Moving and copying messages between boxes (kvm_message:move_to_vmbox/copy_to_vmboxes,
docs/kazoo-behaviour.md §7).

The new message gets a new id in the current month, folder `new`, `to` = the target mailbox and the old
box in `history`; its audio is copied with it. A move first marks the original with where it is going
(`pvt_moved_to`), then writes the copy, then deletes the original: stopped at any step and repeated, it
ends with the message in exactly one box, under the id the first attempt chose.
"""
from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..storage.dbnames import encoded, gregorian_now, modb, year_month
from ..storage.design_docs import MODB
from ..storage.store import Store
from . import bulk_writes, folders, linked_audio, message_docs
from .accounts import Account
from .ids import modb_id, new_id
from .lifecycle import Kind, MessageEvent, MessageLifecycle
from .values import JSON, alphanum

T = TypeVar("T")
K = TypeVar("K")

MARK = "pvt_moved_to"
STALE_MARK_SECONDS = 120
INLINE_BATCH_BYTES = 8 * 1024 * 1024
INLINE_BATCH_COUNT = 1000


@dataclass
class Transfer:
    """A message to write as `target`, made from `source`: the original message of a move or copy, or for the
    3.x migration a stand-in `{"_id": <legacy media id>}` (results and failures are reported by that id).
    Its audio is in `audio` (the source itself, the document a kz_att_link names, or the 3.x media document),
    in database `audio_db`."""
    source: JSON
    source_db: str
    target: JSON
    target_db: str
    audio_db: str | None = None
    audio: JSON | None = None

    @property
    def audio_stubs(self) -> JSON:
        return (self.audio or {}).get("_attachments") or {}


def copy_for(source: JSON, target_box: JSON, account: Account, new_message_id: str, now: int) -> JSON:
    """The document of a message copied into target_box, without its audio yet."""
    year, month = int(new_message_id[:4]), int(new_message_id[4:6])
    doc = {key: copy.deepcopy(value) for key, value in source.items()
           if key not in ("_rev", "_attachments", "pvt_attachments", MARK, "pvt_deleted")}
    mailbox = str(target_box.get("mailbox", ""))
    name = message_docs.message_name(mailbox, now, message_docs.box_timezone(target_box, account))
    to = message_docs.with_realm(mailbox, account.realm)
    metadata = doc.setdefault("metadata", {})
    metadata.update({"media_id": new_message_id, "timestamp": now, "folder": folders.NEW, "to": to})
    metadata["to_user"], metadata["to_realm"] = message_docs.split_address(to)
    doc.update({"_id": new_message_id, "source_id": target_box["_id"], "name": name, "utc_seconds": now,
                "history": [*source.get("history", []), source["source_id"]],
                "pvt_account_db": encoded(modb(account.id, year, month)), "pvt_modified": now,
                "pvt_alphanum_name": alphanum(name)})
    return doc


def new_message_id(now: int) -> str:
    return modb_id(*year_month(now), new_id())


class Mover:
    def __init__(self, store: Store, lifecycle: MessageLifecycle):
        self.store = store
        self.lifecycle = lifecycle

    async def copy(self, account: Account, box_id: str, ids: list[str], targets: list[JSON],
                   cutoff: int) -> bulk_writes.BulkResult:
        result = bulk_writes.BulkResult()
        now = gregorian_now()
        sources = await self._sources(account, box_id, ids, cutoff, result)
        holders = await linked_audio.holders(self.store, account, sources)
        transfers = [self._transfer(account, db, source, target, new_message_id(now), now, holders)
                     for db, source in sources for target in targets]
        for transfer in await self.write(account, transfers, result, existing_ok=False):
            result.succeeded.append(transfer.target["_id"])
        return result

    async def move(self, account: Account, box_id: str, ids: list[str], target: JSON,
                   cutoff: int) -> bulk_writes.BulkResult:
        result = bulk_writes.BulkResult()
        now = gregorian_now()
        sources = await self._sources(account, box_id, ids, cutoff, result)
        sources = await self._settle_abandoned(account, sources, target["_id"], now, result)
        marked = await self._mark(sources, target["_id"], now, result)
        holders = await linked_audio.holders(self.store, account, marked)
        transfers = [self._transfer(account, db, source, target, source[MARK]["id"], now, holders)
                     for db, source in marked]
        written = await self.write(account, transfers, result, existing_ok=True)
        await self._delete_sources(account, [(transfer.source_db, transfer.source) for transfer in written])
        result.succeeded += [transfer.target["_id"] for transfer in written]
        return result

    def _transfer(self, account: Account, source_db: str, source: JSON, target_box: JSON, target_id: str,
                  now: int, holders: dict[str, tuple[str, JSON]]) -> Transfer:
        audio_db, audio = holders.get(source["_id"], (None, None))
        return Transfer(source, source_db, copy_for(source, target_box, account, target_id, now),
                        message_docs.db_of(account, target_id), audio_db, audio)

    async def _sources(self, account: Account, box_id: str, ids: list[str], cutoff: int,
                       result: bulk_writes.BulkResult) -> list[tuple[str, JSON]]:
        """(database, document) of every listed message of the box that may be changed."""
        grouped, result.failed = bulk_writes.by_database(account, ids)
        found = []
        for db, rows in await _per_database(grouped, self.store.many):
            for row in rows:
                doc = row.get("doc")
                reason = bulk_writes.NOT_FOUND if doc is None else bulk_writes.refusal(doc, account, box_id, cutoff)
                if reason is None:
                    found.append((db, doc))
                else:
                    result.failed[row["key"]] = reason
        return found

    async def _mark(self, sources: list[tuple[str, JSON]], target_box_id: str, now: int,
                    result: bulk_writes.BulkResult) -> list[tuple[str, JSON]]:
        """Record on each original where it is going. An interrupted move to the same box is finished
        under the id it chose; a message another move is busy with is reported as a conflict."""
        ready: list[tuple[str, JSON]] = []
        to_mark: dict[str, list[JSON]] = {}
        for db, source in sources:
            mark = source.get(MARK)
            if isinstance(mark, dict) and mark.get("box") == target_box_id and mark.get("id"):
                ready.append((db, source))
            elif isinstance(mark, dict) and not _stale(mark, now):
                result.failed[source["_id"]] = bulk_writes.CONFLICT
            else:
                source[MARK] = {"id": new_message_id(now), "box": target_box_id, "at": now}
                to_mark.setdefault(db, []).append(source)
        for db, outcomes in await _per_database(to_mark, self.store.write_many):
            for doc, outcome in zip(to_mark[db], outcomes):
                if "error" in outcome:
                    result.failed[doc["_id"]] = outcome["error"]
                else:
                    doc["_rev"] = outcome["rev"]
                    ready.append((db, doc))
        return ready

    async def _settle_abandoned(self, account: Account, sources: list[tuple[str, JSON]], target_box_id: str,
                                now: int, result: bulk_writes.BulkResult) -> list[tuple[str, JSON]]:
        """A stale mark to another box is a move that stopped. If it had stored its copy, the message is
        where that move took it: that move is finished (the original removed) and this one is a conflict,
        so the message never exists twice. Returns the other sources."""
        abandoned = {source[MARK]["id"]: (db, source) for db, source in sources
                     if _marked_elsewhere(source, target_box_id) and _stale(source[MARK], now)}
        grouped, _ = bulk_writes.by_database(account, abandoned)
        finished: list[tuple[str, JSON]] = []
        for db, rows in await _per_database(grouped, self.store.many):
            for row in rows:
                if _holds_copy(row, abandoned[row["key"]][1]):
                    finished.append(abandoned[row["key"]])
        await self._delete_sources(account, finished)
        for _, source in finished:
            result.failed[source["_id"]] = bulk_writes.CONFLICT
        return [(db, source) for db, source in sources if source["_id"] not in result.failed]

    async def _delete_sources(self, account: Account, sources: list[tuple[str, JSON]]) -> None:
        """Remove the originals of stored copies, at the revision this move holds (one `_bulk_docs` per
        database); one whose revision changed since is read again and deleted."""
        by_db: dict[str, list[JSON]] = {}
        for db, source in sources:
            by_db.setdefault(db, []).append(source)
        deleted = await _per_database(by_db, lambda db, docs: self.store.write_many(db, [_tombstone(doc)
                                                                                          for doc in docs]),
                                      failures=True)
        for db, outcomes in deleted:  # a database that failed is raised once the others are told
            if isinstance(outcomes, BaseException):
                continue
            docs = by_db[db]
            changed = [doc["_id"] for doc, outcome in zip(docs, outcomes) if outcome.get("error") == "conflict"]
            await self.lifecycle.written_all(MessageEvent(account, doc["_id"], doc, None, Kind.DELETED)
                                             for doc, outcome in zip(docs, outcomes) if "error" not in outcome)
            if changed:
                result = await bulk_writes.update(self.store, db, changed, _delete, keep_old=self.lifecycle.listening)
                await self.lifecycle.written_all(MessageEvent(account, tombstone["_id"], old, None, Kind.DELETED)
                                                 for old, tombstone in result.written)
        _raise_first(deleted)

    async def write(self, account: Account, transfers: list[Transfer], result: bulk_writes.BulkResult, *,
                    existing_ok: bool) -> list[Transfer]:
        """Store the new documents with their audio: small recordings inline, in batches with `_bulk_docs`
        (atomic per document); large ones streamed one by one. A batch's audio is read with one read by id
        per source database, whatever the monthly databases it goes to, and written to those databases at once.
        Returns the transfers that are stored."""
        written: list[Transfer] = []
        for batch in _batches(transfers):
            if len(batch) == 1 and _audio_size(batch[0]) > INLINE_BATCH_BYTES:
                outcome = await self._write_streamed(batch[0], existing_ok)
                outcomes = [{"id": batch[0].target["_id"]} if outcome is None else {"error": outcome}]
            else:
                await self._inline_audio(batch)
                groups = _by_target_db(batch)
                written_groups = await _per_database(groups, lambda db, group: self.store.write_many_creating_db(
                    db, MODB, [transfer.target for transfer in group]))
                outcomes = [outcome for _, group_outcomes in written_groups for outcome in group_outcomes]
            for transfer, outcome in zip(batch, outcomes):
                transfer.target.pop("_attachments", None)
                error = outcome.get("error")
                if error is None or (error == "conflict" and existing_ok):
                    if outcome.get("rev"):
                        transfer.target["_rev"] = outcome["rev"]
                    written.append(transfer)
                else:
                    result.failed[transfer.source["_id"]] = error
        await self.lifecycle.written_all(MessageEvent(account, transfer.target["_id"], None, transfer.target,
                                                      Kind.CREATED) for transfer in written)
        return written

    async def _inline_audio(self, batch: list[Transfer]) -> None:
        """Fetch the batch's audio (base64) with one read by id per source database."""
        by_db: dict[str, list[Transfer]] = {}
        for transfer in batch:
            if transfer.audio_db is not None and transfer.audio_stubs:
                by_db.setdefault(transfer.audio_db, []).append(transfer)
        read = await _per_database(by_db, lambda db, group: self.store.many(db, [t.audio["_id"] for t in group],
                                                                            with_attachments=True))
        for db, rows in read:
            for transfer, row in zip(by_db[db], rows):
                stored = (row.get("doc") or {}).get("_attachments") or {}
                transfer.target["_attachments"] = {
                    name: {"content_type": stub.get("content_type", "application/octet-stream"),
                           "data": stub["data"]} for name, stub in stored.items() if "data" in stub}

    async def _write_streamed(self, transfer: Transfer, existing_ok: bool) -> str | None:
        """A large recording: the document first, then its audio streamed from the original. A copy left
        without audio by an interrupted move gets its audio now."""
        target_id = transfer.target["_id"]
        outcome = (await self.store.write_many_creating_db(transfer.target_db, MODB, [transfer.target]))[0]
        if outcome.get("error") == "conflict" and existing_ok:
            stored = await self.store.get(transfer.target_db, target_id)
            rev, present = stored["_rev"], set(stored.get("_attachments") or {})
        elif "error" in outcome:
            return outcome["error"]
        else:
            rev, present = outcome["rev"], set()
        for name, stub in transfer.audio_stubs.items():
            if name in present:
                continue
            length = int(stub.get("length") or 0)
            chunks = self.store.read_attachment(transfer.audio_db, transfer.audio["_id"], name, 0,
                                            length - 1)
            try:
                rev = await self.store.put_attachment(transfer.target_db, target_id, rev, name,
                                                      stub.get("content_type", "application/octet-stream"),
                                                      chunks, length)
            except BaseException:
                if not existing_ok:
                    await self.store.delete(transfer.target_db, target_id, rev)
                raise
        return None


async def _per_database(grouped: dict[str, K], work: Callable[[str, K], Awaitable[T]], *,
                        failures: bool = False) -> list[tuple[str, T]]:
    """`work(db, items)` for every database at once: the databases of a move are independent of each other, and
    CouchDB answers requests to several databases in parallel; (database, answer) in the order given. The
    first failure is raised once all have ended, so that no request is left running; with `failures`, failures
    are answers (for the caller to raise, `_raise_first`, after it has used the others)."""
    answers = list(zip(grouped, await asyncio.gather(*(work(db, items) for db, items in grouped.items()),
                                                     return_exceptions=True)))
    if not failures:
        _raise_first(answers)
    return answers


def _raise_first(answers: list[tuple[str, object]]) -> None:
    for _, answer in answers:
        if isinstance(answer, BaseException):
            raise answer


def _marked_elsewhere(source: JSON, target_box_id: str) -> bool:
    mark = source.get(MARK)
    return isinstance(mark, dict) and mark.get("box") != target_box_id and isinstance(mark.get("id"), str)


def _stale(mark: JSON, now: int) -> bool:
    return now - int(mark.get("at") or 0) >= STALE_MARK_SECONDS


def _holds_copy(row: JSON, source: JSON) -> bool:
    """An `_all_docs` row of a copy that was stored with its audio (when the original has any), or
    stored and moved on since."""
    if (row.get("value") or {}).get("deleted"):
        return True
    copy = row.get("doc")
    has_audio = bool(source.get("_attachments") or source.get("pvt_attachments"))
    return copy is not None and (bool(copy.get("_attachments")) or not has_audio)


def _tombstone(doc: JSON) -> JSON:
    """What `_delete` leaves of a document, at the revision held."""
    return {"_id": doc["_id"], "_rev": doc["_rev"], "_deleted": True}


def _delete(doc: JSON) -> str | None:
    """A hard delete as Kazoo's: the tombstone keeps nothing of the message, its audio included."""
    for key in [key for key in doc if key not in ("_id", "_rev")]:
        del doc[key]
    doc["_deleted"] = True
    return None


def _audio_size(transfer: Transfer) -> int:
    return sum(int(stub.get("length") or 0) for stub in transfer.audio_stubs.values())


def _by_target_db(batch: list[Transfer]) -> dict[str, list[Transfer]]:
    """A batch (sorted by target database) by target database, in the batch's order."""
    groups: dict[str, list[Transfer]] = {}
    for transfer in batch:
        groups.setdefault(transfer.target_db, []).append(transfer)
    return groups


def _batches(transfers: list[Transfer]) -> list[list[Transfer]]:
    """Groups under the inline size (in audio and in documents), in target-database order; oversized ones
    alone."""
    batches: list[list[Transfer]] = []
    current: list[Transfer] = []
    size = 0
    for transfer in sorted(transfers, key=lambda t: t.target_db):
        audio = _audio_size(transfer)
        if audio > INLINE_BATCH_BYTES:
            batches.append([transfer])
            continue
        if current and (size + audio > INLINE_BATCH_BYTES or len(current) >= INLINE_BATCH_COUNT):
            batches.append(current)
            current, size = [], 0
        current.append(transfer)
        size += audio
    if current:
        batches.append(current)
    return batches
