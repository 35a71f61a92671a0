"""Page sizes larger than any CouchDB `limit`: Apache CouchDB refuses a view `limit` above 268435456, so a
page is at most MAX_PAGE_SIZE rows and larger sizes are served that many at a time, with next_start_key
(docs/couchdb.md). No page_size ever reaches a 5xx."""
from __future__ import annotations

import secrets

import pytest

from kazoo_vm.storage.dbnames import account_db
from kazoo_vm.http.inputs import page_size
from kazoo_vm.voicemail.paging import MAX_PAGE_SIZE
from bulk_helpers import new_messages

HUGE = ["268435457", "59532772358", "99999999999999999999999"]


@pytest.mark.parametrize("raw", HUGE)
@pytest.mark.parametrize("strict", [True, False])
def test_a_huge_page_size_is_the_largest_page(raw, strict):
    assert page_size({"page_size": raw}, strict=strict) == MAX_PAGE_SIZE


async def test_box_listings_serve_a_huge_page_size_a_largest_page_at_a_time(api, couch):
    docs = [{"_id": secrets.token_hex(16), "name": f"Box {n}", "mailbox": str(10_000 + n), "pvt_type": "vmbox",
             "pvt_account_id": api.account_id} for n in range(MAX_PAGE_SIZE + 3)]
    assert all("rev" in result for result in await couch.bulk_docs(account_db(api.account_id), docs))
    first = await api.get(f"/vmboxes?page_size={HUGE[1]}")
    assert first.status == 200, first.json
    assert first.json["page_size"] == len(first.data) == MAX_PAGE_SIZE
    rest = await api.get(f"/vmboxes?page_size={HUGE[1]}&start_key={first.json['next_start_key']}")
    assert rest.status == 200, rest.json
    assert len(rest.data) == 3 and "next_start_key" not in rest.json
    assert [row["id"] for row in first.data + rest.data] == sorted(doc["_id"] for doc in docs)


@pytest.mark.parametrize("raw", HUGE)
async def test_message_listings_answer_a_huge_page_size(api, raw):
    box = await api.create_box()
    ids = await new_messages(api, box["id"], 3)
    for path in (f"/vmboxes/{box['id']}/messages", "/vmboxes/messages"):
        response = await api.get(f"{path}?page_size={raw}")
        assert response.status == 200, response.json
        assert response.json["page_size"] == 3 and "next_start_key" not in response.json
    listed = await api.get(f"/vmboxes/{box['id']}/messages?page_size={raw}")
    assert sorted(item["media_id"] for item in listed.data) == sorted(ids)
