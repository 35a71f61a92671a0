"""A document a race left with conflicting branches (docs/couchdb.md, "Racing writers"): on a cluster two
writers of one revision can both be kept by some copies, and CouchDB shows a live branch rather than a deleted
one. A message deleted or moved away must stay gone whatever branch a race left beside it.

The conflicting branch is written as CouchDB's replication writes one (`new_edits: false`), on every target."""
from __future__ import annotations

from kazoo_vm.storage.dbnames import encoded, modb
from message_helpers import create_message, this_month
from test_concurrency import all_docs

LOSING_ID = "0" * 32  # below any real revision id: the branch loses while the document lives


async def conflicting_branch(couch, db: str, doc: dict, parent: str, **changes) -> str:
    """Store a sibling of the document's current revision, made on `parent`, as a racing writer would have."""
    generation = int(parent.split("-")[0]) + 1
    rev = f"{generation}-{LOSING_ID}"
    sibling = {**doc, **changes, "_rev": rev,
               "_revisions": {"start": generation, "ids": [LOSING_ID, parent.split("-", 1)[1]]}}
    sibling.pop("_attachments", None)
    await couch.request("POST", f"{encoded(db)}/_bulk_docs", body={"docs": [sibling], "new_edits": False})
    return rev


async def leaves(couch, db: str, doc_id: str) -> list[dict]:
    answer = await couch.request("GET", f"{encoded(db)}/{doc_id}", params={"open_revs": "all"})
    return [entry["ok"] for entry in answer if "ok" in entry]


async def test_a_deleted_document_stays_deleted_beside_a_live_conflicting_branch(couch, scratch_db):
    first = await couch.put(scratch_db, {"_id": "doc", "value": 1})
    second = await couch.put(scratch_db, {**first, "value": 2})
    await conflicting_branch(couch, scratch_db, second, first["_rev"], value="rival")
    assert (await couch.get(scratch_db, "doc"))["value"] == 2, "the branch loses while the document lives"

    [result] = await couch.bulk_docs(scratch_db, [{"_id": "doc", "_rev": second["_rev"], "_deleted": True}])
    assert "error" not in result
    assert await couch.get_or_none(scratch_db, "doc") is None
    assert all(leaf.get("_deleted") for leaf in await leaves(couch, scratch_db, "doc"))


async def test_a_moved_message_does_not_come_back_from_a_branch_a_race_left(api, couch):
    home, away = await api.create_box(name="Home"), await api.create_box(name="Away")
    message_id = (await create_message(api, home["id"], caller_id_number="7001"))["media_id"]
    db = modb(api.account_id, *this_month())
    created = await couch.get(db, message_id)
    saved = await api.post(f"/vmboxes/{home['id']}/messages/{message_id}", json={"data": {"folder": "saved"}})
    assert saved.status == 200
    assert (await couch.get(db, message_id))["metadata"]["folder"] == "saved"
    await conflicting_branch(couch, db, created, created["_rev"],
                             metadata={**created["metadata"], "folder": "deleted"})

    moved = await api.post(f"/vmboxes/{home['id']}/messages/{message_id}", json={"data": {"source_id": away["id"]}})
    assert moved.status == 200, moved.json
    assert (await api.get(f"/vmboxes/{home['id']}/messages")).data == []
    assert (await api.get(f"/vmboxes/{home['id']}/messages/{message_id}")).status == 404
    listed = await api.get(f"/vmboxes/{away['id']}/messages")
    assert [message["media_id"] for message in listed.data] == [moved.data["media_id"]]
    assert list(await all_docs(couch, db)) == [moved.data["media_id"]]
