"""What the lifecycle point records in the event outbox for a revision it wrote: the document with its
attachments as stubs, never the audio a move or a migration sends inline (outbox documents stay small however
much audio was moved), and a copy the writer's later changes do not reach; how the holder reads them back."""
from __future__ import annotations

import base64

from kazoo_vm.events import classify
from kazoo_vm.events.memory import Memory
from kazoo_vm.events import outbox
from kazoo_vm.events.outbox import changes_of
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


def test_revisions_recorded_out_of_order_are_classified_in_the_order_of_their_revisions():
    recorded = [{"_id": "outbox:1", "revisions": [{"_id": "m", "_rev": "3-c"}, {"_id": "m", "_rev": "2-b"}]},
                {"_id": "outbox:2", "revisions": [{"_id": "m", "_rev": "1-x"}, {"_id": "other", "_rev": "1-o"}]}]
    taken = changes_of(recorded)
    assert [change["changes"][0]["rev"] for change in taken if change["id"] == "m"] == ["1-x", "2-b", "3-c"]
    assert all(change["doc"]["_rev"] == change["changes"][0]["rev"] for change in taken)


def test_outbox_ids_keep_an_account_database_apart_from_its_monthly_databases():
    account_db = "account/4a/68/63f0b1d2e3f4a5b6c7d8e9f00112"
    monthly = account_db + "-202611"
    assert not (outbox.prefix_of(monthly)).startswith(outbox.prefix_of(account_db))
    assert outbox.where(outbox.prefix_of(monthly) + "00000000000000000001-ab") == (
        int(outbox.prefix_of(monthly).split(":")[1]), monthly)
    assert outbox.where("checkpoint:" + monthly) is None
