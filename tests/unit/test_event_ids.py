"""An event's id is the same whichever revision shows the change it reports: a receiver drops repeats by it, and
after a restart (the classifier's memory gone) the outbox or the feed can show another revision of that change."""
from __future__ import annotations

from kazoo_vm.events import classify
from kazoo_vm.events.memory import Memory

DB = "account/4a/68/63f0b1d2e3f4a5b6c7d8e9f00112-202611"
MESSAGE_ID = "202611-" + "a" * 32
STUB = {"content_type": "audio/mpeg", "stub": True, "length": 970, "digest": "md5-abc", "revpos": 2}


def message(rev: str, audio: bool = True, **metadata) -> dict:
    doc = {"_id": MESSAGE_ID, "_rev": rev, "pvt_type": "mailbox_message", "pvt_created": 100, "pvt_modified": 100,
           "metadata": {"folder": "new", "caller_id_name": "A", **metadata}}
    if audio:
        doc["_attachments"] = {"m.mp3": dict(STUB)}
    return doc


def ids(memory: Memory, doc: dict) -> dict[str, str]:
    change = {"id": doc["_id"], "doc": doc, "changes": [{"rev": doc["_rev"]}]}
    return {raised.name: raised.event_id for raised in classify.classify(DB, change, memory)}


def test_a_creation_seen_at_its_first_revision_or_at_its_audio_is_one_event():
    before_audio = ids(Memory(), message("1-a", audio=False))
    with_audio = ids(Memory(), message("2-b"))
    assert before_audio["doc_created"] == with_audio["doc_created"]


def test_the_audio_arriving_seen_at_its_revision_or_at_a_later_one_is_one_event():
    at_arrival = ids(Memory(), message("2-b"))
    memory = Memory()
    ids(memory, message("1-a", audio=False))
    later = ids(memory, message("3-c", caller_id_name="B"))
    assert set(later) == {"doc_edited", "voicemail_new", "voicemail_saved"}
    assert later["voicemail_new"] == at_arrival["voicemail_new"]
    assert later["voicemail_saved"] == at_arrival["voicemail_saved"] != at_arrival["voicemail_new"]


def test_each_edit_and_each_audio_is_an_event_of_its_own():
    memory = Memory()
    ids(memory, message("2-b"))
    first, second = ids(memory, message("3-c", folder="saved")), ids(memory, message("4-d", folder="new"))
    assert first["doc_edited"] != second["doc_edited"]
    replaced = {**STUB, "digest": "md5-other", "revpos": 5}
    assert ids(Memory(), {**message("5-e"), "_attachments": {"m.mp3": replaced}})["voicemail_new"] != \
        ids(Memory(), message("2-b"))["voicemail_new"]
