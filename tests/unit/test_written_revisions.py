"""What the lifecycle point hands to the event pipeline for a revision it wrote: the document with its
attachments as stubs, never the audio a move or a migration sends inline (revisions waiting for a read stay
small however much audio was moved), and a copy the writer's later changes do not reach."""
from __future__ import annotations

import base64

from kazoo_vm.events import classify
from kazoo_vm.events.memory import Memory
from kazoo_vm.events.pipeline import Pipeline
from kazoo_vm.webhooks.service import _without_audio

AUDIO = base64.b64encode(b"\0" * 1_000_000).decode()


def test_a_moved_message_is_handed_over_without_its_inline_audio():
    written = {"_id": "202611-" + "a" * 32, "_rev": "1-x", "pvt_type": "mailbox_message", "history": [{}],
               "metadata": {"folder": "new"}, "source_id": "b" * 32,
               "_attachments": {"m.mp3": {"content_type": "audio/mpeg", "data": AUDIO}}}
    handed = _without_audio(written)
    assert handed["_attachments"] == {"m.mp3": {"content_type": "audio/mpeg"}}
    assert "data" in written["_attachments"]["m.mp3"]  # the writer's document is left as it was
    written["metadata"]["folder"] = "saved"
    assert handed["metadata"]["folder"] == "new"
    db = "account/4a/68/63f0b1d2e3f4a5b6c7d8e9f00112-202611"
    raised = classify.classify(db, {"id": handed["_id"], "doc": handed, "changes": [{"rev": "1-x"}]}, Memory())
    assert [item.name for item in raised] == ["doc_created"]  # a move: no voicemail_new


def test_revisions_handed_in_out_of_order_are_classified_in_the_order_of_their_revisions():
    pipeline = Pipeline.__new__(Pipeline)  # only its waiting revisions: no CouchDB
    db = "account/4a/68/63f0b1d2e3f4a5b6c7d8e9f00112-202611"
    revisions = ["3-c", "2-b", "1-x"]
    pipeline.notes = {db: [{"id": "m", "changes": [{"rev": rev}]} for rev in revisions]
                      + [{"id": "other", "changes": [{"rev": "1-o"}]}]}
    taken = pipeline._take_notes(db)
    assert [note["changes"][0]["rev"] for note in taken if note["id"] == "m"] == ["1-x", "2-b", "3-c"]
    assert pipeline.notes == {}
