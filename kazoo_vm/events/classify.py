"""What one change of a feed means. Only `mailbox_message` documents in monthly databases and `vmbox`
documents in account databases raise events:

- `doc_created` when the document is new: its first revision, or its second when that only added the audio
  (how Kazoo and this service store a message: the document, then the attachment);
- `doc_deleted` for a soft delete (`pvt_deleted`) or a tombstone (a tombstone's type comes from where it
  lives and the form of its id: `YYYYMM-...` in a monthly database is a message; in an account database it
  is reported only when the pipeline saw the document as a box);
- `doc_edited` otherwise, except a revision that changed nothing but the attachments, and the mark a move puts
  on its original (`pvt_moved_to`), which no client sees;
- for messages also `voicemail_new`, then `voicemail_saved`, when the audio of a message in folder `new`
  has just arrived (not a copy or a move: those carry `history`; not a 3.x migration: `pvt_moved_to_modb`).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from ..storage.dbnames import to_db
from . import payloads
from .memory import Memory, Seen, digest
from .records import NOTIFICATIONS, OBJECT, event_id

log = logging.getLogger("kazoo_vm.events")
JSON = dict[str, Any]
MESSAGE = "mailbox_message"
VMBOX = "vmbox"
MESSAGE_ID = re.compile(r"^\d{6}-[0-9a-zA-Z_-]+$")
MODB_SUFFIX = re.compile(r"-\d{6}$")


@dataclass(frozen=True)
class Raised:
    hook: str
    name: str
    doc_type: str
    doc_id: str
    event_id: str
    payload: JSON


def account_of(db: str) -> tuple[str, bool] | None:
    """(account id, is a monthly database) of an account or monthly database name; None for any other."""
    real = to_db(db)
    if real is None or real != db:
        return None
    account_id = real.removeprefix("account/").replace("/", "")[:32]
    return account_id, bool(MODB_SUFFIX.search(real))


def generation(rev: str) -> int:
    try:
        return int(rev.split("-", 1)[0])
    except ValueError:
        return 0


def classify(db: str, change: JSON, memory: Memory) -> list[Raised]:
    where = account_of(db)
    if where is None:
        return []
    account_id, is_modb = where
    doc = change.get("doc") or {}
    doc_id = change.get("id", "")
    if doc_id.startswith("_"):
        return []
    rev = doc.get("_rev") or (change.get("changes") or [{}])[0].get("rev", "")
    if change.get("deleted") or doc.get("_deleted"):
        return _tombstone(db, account_id, is_modb, doc_id, rev, memory)
    doc_type = doc.get("pvt_type")
    if (doc_type, is_modb) not in ((MESSAGE, True), (VMBOX, False)):
        return []
    seen = memory.get(db, doc_id)
    log.debug("change of %s %s in %s: seen %s", doc_type, rev, db, seen)
    now = Seen(generation(rev), digest(doc), _has_audio(doc), bool(doc.get("pvt_deleted")), doc_type)
    memory.remember(db, doc_id, now)
    raised = [Raised(OBJECT, name, doc_type, doc_id, ident, payloads.object_payload(ident, account_id, name,
                                                                                     doc_type, doc_id))
              for name in _object_names(doc, seen, now)
              for ident in [event_id(db, doc_id, version_of(name, doc, rev), name)]]
    if doc_type == MESSAGE and _audio_arrived(doc, seen, now):
        for name in ("voicemail_new", "voicemail_saved"):
            ident = event_id(db, doc_id, version_of(name, doc, rev), name)
            raised.append(Raised(NOTIFICATIONS, name, doc_type, doc_id, ident,
                                 payloads.voicemail_payload(ident, name, account_id, doc)))
    return raised


def _tombstone(db: str, account_id: str, is_modb: bool, doc_id: str, rev: str, memory: Memory) -> list[Raised]:
    seen = memory.get(db, doc_id)
    if is_modb and MESSAGE_ID.match(doc_id):
        doc_type = MESSAGE
    elif seen is not None and seen.doc_type == VMBOX and not is_modb:
        doc_type = VMBOX
    else:
        return []
    if seen is not None and seen.deleted:
        memory.remember(db, doc_id, Seen(generation(rev), "", False, True, doc_type))
        return []
    memory.remember(db, doc_id, Seen(generation(rev), "", False, True, doc_type))
    ident = event_id(db, doc_id, rev, "doc_deleted")
    return [Raised(OBJECT, "doc_deleted", doc_type, doc_id, ident,
                   payloads.object_payload(ident, account_id, "doc_deleted", doc_type, doc_id))]


def version_of(name: str, doc: JSON, rev: str) -> str:
    """What makes an event the same one whichever revision shows it. A creation is seen at the document's first
    revision, or at its second when that only added the audio: one feed read can show either, and after a
    restart the outbox the other, so it is the creation itself (a document made again after a delete continues
    the deleted one's generations, so it is never a creation again). The audio's arrival is its stub: a later
    revision read before the arrival's own shows the same one. Any other event is its revision."""
    if name == "doc_created":
        return "created"
    if name in ("voicemail_new", "voicemail_saved"):
        stub = next(iter((doc.get("_attachments") or {}).values()), {})
        return f"audio:{stub.get('revpos')}:{stub.get('digest')}"
    return rev


def _object_names(doc: JSON, seen: Seen | None, now: Seen) -> list[str]:
    if now.deleted:
        return [] if seen is not None and seen.deleted else ["doc_deleted"]
    if seen is None:
        return ["doc_created"] if _is_new(doc, now) else ["doc_edited"]
    if now.generation <= seen.generation or now.digest == seen.digest:
        return []  # already reported, or only the attachments changed
    if doc.get("pvt_moved_to"):
        return []  # a move marks its original before copying it: bookkeeping, not an edit
    return ["doc_edited"]


def _is_new(doc: JSON, now: Seen) -> bool:
    """First revision; or the second, when it only added the audio to an unchanged first."""
    if now.generation == 1:
        return True
    stubs = (doc.get("_attachments") or {}).values()
    return now.generation == 2 and len(stubs) == 1 and all(stub.get("revpos") == 2 for stub in stubs) \
        and doc.get("pvt_created") is not None and doc.get("pvt_created") == doc.get("pvt_modified")


def _has_audio(doc: JSON) -> bool:
    return bool(doc.get("_attachments"))


def _audio_arrived(doc: JSON, seen: Seen | None, now: Seen) -> bool:
    """A recording (not a copy, move or migration) in folder new whose one audio arrived since last seen."""
    if now.deleted or not now.has_audio or (doc.get("metadata") or {}).get("folder", "new") != "new":
        return False
    if doc.get("history") or doc.get("pvt_moved_to_modb") or doc.get("pvt_moved_to"):
        return False
    stubs = list((doc.get("_attachments") or {}).values())
    if len(stubs) != 1:
        return False  # a replaced recording holds both for one revision
    if seen is not None:
        return not seen.has_audio and not seen.deleted
    return stubs[0].get("revpos") == now.generation or _is_new(doc, now)
