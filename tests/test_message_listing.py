"""Message listings across monthly databases: order, pages filled across months with filtered items,
opaque start keys, time windows, filters, and the per-box counts of GET /vmboxes (docs/kazoo-behaviour.md §5.4, §6.1, §6.6-§6.8)."""
from __future__ import annotations

import asyncio
import base64
import json

import pytest

from kazoo_vm.storage.dbnames import modb, year_month
from message_helpers import (assert_error, create_message, stored, times_last_month, times_this_month)

FOLDER_CYCLE = ("new", "saved", "deleted", "new")


async def make_messages(api, box_id: str, timestamps: list[int], folders=FOLDER_CYCLE, **fields) -> list[dict]:
    """One message per timestamp (created oldest first), folders taken in turn; newest first."""
    made = []
    for index, timestamp in enumerate(sorted(timestamps)):
        made.append(await create_message(api, box_id, timestamp=timestamp, folder=folders[index % len(folders)],
                                         **fields))
    return sorted(made, key=lambda message: message["timestamp"], reverse=True)


async def two_months(api, box_id: str, each: int = 4, **fields) -> list[dict]:
    return await make_messages(api, box_id, times_this_month(each) + times_last_month(each), **fields)


def ids(items: list[dict]) -> list[str]:
    return [item["media_id"] for item in items]


def query_string(query: dict) -> str:
    return "&".join(f"{key}={value}" for key, value in query.items())


async def listing(api, path: str, **query):
    response = await api.get(f"{path}?{query_string(query)}" if query else path)
    assert response.status == 200, response.json
    return response


async def all_pages(api, path: str, **query) -> list[list]:
    """Follow next_start_key to the end; every page echoes the start key it was given, and the first page,
    asked without one, carries the key it started at, which lists it again."""
    pages, start_key = [], None
    while True:
        response = await listing(api, path, **query, **({"start_key": start_key} if start_key else {}))
        body = response.json
        assert body["page_size"] == len(body["data"])
        assert body["start_key"] == start_key or (start_key is None and body["start_key"])
        if start_key is None:
            again = (await listing(api, path, **query, start_key=body["start_key"])).json
            assert (again["data"], again["start_key"], again.get("next_start_key")) == \
                (body["data"], body["start_key"], body.get("next_start_key"))
        pages.append(body["data"])
        start_key = body.get("next_start_key")
        if start_key is None:
            return pages
        assert len(pages) < 50, "paging does not end"


async def test_messages_are_stored_in_the_database_of_their_month(api, couch):
    box = await api.create_box()
    for message in await two_months(api, box["id"], each=2):
        year, month = year_month(message["timestamp"])
        assert message["media_id"].startswith(f"{year:04d}{month:02d}-")
        doc = await couch.get(modb(api.account_id, year, month), message["media_id"])
        assert doc["metadata"]["timestamp"] == message["timestamp"]


@pytest.mark.parametrize("query, reverse", [({}, False), ({"ascending": "true"}, True),
                                            ({"ascending": "false"}, False),
                                            ({"ascending": "true", "descending": "true"}, False)])
async def test_listing_is_newest_first_across_months(api, query, reverse):
    box = await api.create_box()
    made = await two_months(api, box["id"], each=3)
    response = await listing(api, f"/vmboxes/{box['id']}/messages", **query)
    expected = made[::-1] if reverse else made
    assert response.data == [{key: message[key] for key in ("timestamp", "from", "to", "caller_id_number",
                                                            "caller_id_name", "call_id", "folder", "length",
                                                            "media_id")} for message in expected]


@pytest.mark.parametrize("query, keep", [
    ({}, lambda message: True),
    ({"filter_folder": "new"}, lambda message: message["folder"] == "new"),
    ({"filter_not_folder": "saved"}, lambda message: message["folder"] != "saved"),
    ({"filter_folder": '["saved","deleted"]'}, lambda message: message["folder"] in ("saved", "deleted")),
    ({"filter_folder": "new", "ascending": "true"}, lambda message: message["folder"] == "new"),
    ({"filter_caller_id_number": "6001"}, lambda message: message["caller_id_number"] == "6001"),
    ({"filter_from_user": "6001"}, lambda message: message["from_user"] == "6001"),
    ({"has_key": "from_realm"}, lambda message: True),
])
@pytest.mark.parametrize("page_size", [1, 2, 5])
async def test_pages_are_filled_across_months_with_filtered_items(api, query, keep, page_size):
    box = await api.create_box()
    made = await two_months(api, box["id"], each=4)
    made += await make_messages(api, box["id"], [message["timestamp"] - 30 for message in made[::3]],
                                caller_id_number="6001")
    made.sort(key=lambda message: message["timestamp"], reverse=query.get("ascending") != "true")
    expected = ids([message for message in made if keep(message)])
    pages = await all_pages(api, f"/vmboxes/{box['id']}/messages", page_size=page_size, **query)
    assert [len(page) for page in pages[:-1]] == [page_size] * (len(pages) - 1)
    assert 0 < len(pages[-1]) <= page_size
    assert [media_id for page in pages for media_id in ids(page)] == expected


async def test_a_page_takes_rows_from_two_months(api):
    box = await api.create_box()
    made = await two_months(api, box["id"], each=3)
    first = await listing(api, f"/vmboxes/{box['id']}/messages", page_size=5)
    assert ids(first.data) == ids(made[:5])
    assert {item["media_id"][:6] for item in first.data} == {made[0]["media_id"][:6], made[-1]["media_id"][:6]}
    rest = await listing(api, f"/vmboxes/{box['id']}/messages", page_size=5,
                         start_key=first.json["next_start_key"])
    assert ids(rest.data) == ids(made[5:]) and "next_start_key" not in rest.json


async def test_messages_with_the_same_timestamp_are_each_listed_once(api):
    box = await api.create_box()
    this, last = times_this_month(1)[0], times_last_month(1)[0]
    made = await make_messages(api, box["id"], [this] * 3 + [last] * 3)
    pages = await all_pages(api, f"/vmboxes/{box['id']}/messages", page_size=2)
    listed = [media_id for page in pages for media_id in ids(page)]
    assert sorted(listed) == sorted(ids(made)) and len(listed) == 6
    assert [item["timestamp"] for page in pages for item in page] == [this] * 3 + [last] * 3


async def test_start_key_resumes_exactly_when_messages_are_added_between_pages(api):
    box = await api.create_box()
    made = await two_months(api, box["id"], each=3)
    path = f"/vmboxes/{box['id']}/messages"
    first = await listing(api, path, page_size=4)
    assert ids(first.data) == ids(made[:4])
    newer = await create_message(api, box["id"])
    older = await create_message(api, box["id"], timestamp=made[-1]["timestamp"] - 60)
    between = await create_message(api, box["id"], timestamp=made[4]["timestamp"] + 1)
    second = await listing(api, path, page_size=4, start_key=first.json["next_start_key"])
    assert ids(second.data) == [between["media_id"], *ids(made[4:6]), older["media_id"]]
    assert "next_start_key" not in second.json
    assert newer["media_id"] in ids((await listing(api, path, page_size=1)).data)


async def test_account_wide_listing_pages_across_boxes_and_months(api):
    first_box, second_box = await api.create_box(), await api.create_box()
    made = [(first_box["id"], message) for message in await two_months(api, first_box["id"], each=2)]
    made += [(second_box["id"], message) for message in await make_messages(
        api, second_box["id"], [message["timestamp"] - 30 for _, message in made])]
    made.sort(key=lambda pair: pair[1]["timestamp"], reverse=True)

    pages = await all_pages(api, "/vmboxes/messages", page_size=3)
    items = [item for page in pages for item in page]
    assert all(len(item) == 1 for item in items)
    assert [(box_id, summary["media_id"]) for item in items for box_id, summary in item.items()] == \
        [(box_id, message["media_id"]) for box_id, message in made]
    new_only = await listing(api, "/vmboxes/messages", paginate="false", filter_folder="new")
    assert [next(iter(item.values()))["media_id"] for item in new_only.data] == \
        [message["media_id"] for _, message in made if message["folder"] == "new"]


async def test_paginate_false_lists_everything_without_paging_keys(api):
    box = await api.create_box()
    timestamps = times_this_month(51)
    await asyncio.gather(*(create_message(api, box["id"], timestamp=timestamp) for timestamp in timestamps))
    path = f"/vmboxes/{box['id']}/messages"
    default = await listing(api, path)
    assert default.json["page_size"] == 50 and default.json["next_start_key"]
    everything = await listing(api, path, paginate="false")
    assert [item["timestamp"] for item in everything.data] == timestamps
    assert not {"page_size", "start_key", "next_start_key"} & set(everything.json)


async def test_created_from_and_created_to_select_a_window(api):
    box = await api.create_box()
    made = await two_months(api, box["id"], each=3)
    path = f"/vmboxes/{box['id']}/messages"
    window = await listing(api, path, created_from=made[4]["timestamp"], created_to=made[1]["timestamp"])
    assert ids(window.data) == ids(made[1:5])
    only_last_month = await listing(api, path, created_to=made[3]["timestamp"])
    assert ids(only_last_month.data) == ids(made[3:])
    ignored = await listing(api, path, created_from="yesterday", created_to="-5")
    assert ids(ignored.data) == ids(made)


@pytest.mark.parametrize("window", ["created_from=1&created_to=2", "created_to=5", f"created_to={10 ** 15}",
                                    f"created_from={10 ** 15 - 60}&created_to={10 ** 15}"])
async def test_a_window_outside_the_months_of_message_ids_is_empty(api, window):
    box = await api.create_box()
    await create_message(api, box["id"])
    for path in (f"/vmboxes/{box['id']}/messages", "/vmboxes/messages"):
        response = await api.get(f"{path}?{window}")
        assert response.status == 200 and response.data == [], response.json


async def test_created_to_before_created_from_is_a_date_range_error(api):
    box = await api.create_box()
    response = await api.get(f"/vmboxes/{box['id']}/messages?created_from=63900000100&created_to=63900000000")
    assert assert_error(response, 400, "validation error") == {"created_from": {"date_range": {
        "message": "created_to 63900000000 is prior to created_from 63900000100", "cause": 63900000100}}}


async def test_a_window_longer_than_the_maximum_range_is_a_date_range_error(api):
    box = await api.create_box()
    start, end = 63900000000, 63900000000 + 2682001
    for path in (f"/vmboxes/{box['id']}/messages", "/vmboxes/messages"):
        response = await api.get(f"{path}?created_from={start}&created_to={end}")
        assert assert_error(response, 400, "validation error") == {"created_from": {"date_range": {
            "message": f"created_to {end} is more than 2682000 seconds from created_from {start}", "cause": end}}}


@pytest.mark.parametrize("page_size", ["0", "-3", "ten", "2.5"])
async def test_an_invalid_page_size_is_a_faulty_request(api, page_size):
    box = await api.create_box()
    for path in (f"/vmboxes/{box['id']}/messages", "/vmboxes/messages"):
        assert_error(await api.get(f"{path}?page_size={page_size}"), 404, "faulty_request")


def forged_start_key(segment: str, key, skip: int = 0) -> str:
    raw = json.dumps([segment, key, skip]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_a_start_key_that_was_not_given_out_is_refused(api):
    box = await api.create_box()
    made = await two_months(api, box["id"], each=1)
    segment = made[0]["media_id"][:6]
    path = f"/vmboxes/{box['id']}/messages"
    for start_key in ("garbage", forged_start_key(segment, "zzz"), forged_start_key(segment, {"a": 1}),
                      forged_start_key(segment, ["another-box", made[0]["timestamp"]]),
                      forged_start_key(segment, [box["id"], "x"])):
        response = await api.get(f"{path}?page_size=1&start_key={start_key}")
        assert_error(response, 400, "validation error")
    response = await api.get(f"/vmboxes/messages?page_size=1&start_key={forged_start_key(segment, 'zzz')}")
    assert_error(response, 400, "validation error")


async def test_a_start_key_beyond_the_window_lists_nothing_more(api):
    box = await api.create_box()
    made = await two_months(api, box["id"], each=1)
    segment = made[-1]["media_id"][:6]
    response = await listing(api, f"/vmboxes/{box['id']}/messages", page_size=1,
                             start_key=forged_start_key(segment, [box["id"], 5]))
    assert response.data == [] and "next_start_key" not in response.json


async def test_soft_deleted_messages_are_never_listed_or_counted(api):
    box = await api.create_box()
    made = await two_months(api, box["id"], each=2, folders=("new",))
    for message in (made[0], made[-1]):
        response = await api.delete(f"/vmboxes/{box['id']}/messages/{message['media_id']}")
        assert response.status == 200
    kept = ids(made[1:-1])
    assert ids((await listing(api, f"/vmboxes/{box['id']}/messages", paginate="false")).data) == kept
    assert ids((await listing(api, f"/vmboxes/{box['id']}/messages", filter_folder="deleted")).data) == []
    account_wide = await listing(api, "/vmboxes/messages")
    assert [next(iter(item.values()))["media_id"] for item in account_wide.data] == kept
    [row] = [row for row in (await listing(api, "/vmboxes")).data if row["id"] == box["id"]]
    assert row["messages"] == 2 and row["folders"] == {"new": 2, "saved": 0}


# Per box, the folders of its messages: n(ew), s(aved), d(eleted), x = deleted with DELETE (soft-deleted).
BOX_CONTENTS = ["", "n", "s", "d", "x", "nns", "nsdx", "ssss", "nnnnnd", "dx", "nxsx", "snsns"]


async def test_box_listing_counts_new_and_saved_messages_of_many_boxes(service, api):
    _, voicemail = service
    boxes = [await api.create_box(name=f"Box {contents}") for contents in BOX_CONTENTS]
    folder_of = {"n": "new", "s": "saved", "d": "deleted", "x": "new"}
    timestamps = times_this_month(6) + times_last_month(6)
    for box, contents in zip(boxes, BOX_CONTENTS):
        for letter, timestamp in zip(contents, timestamps):
            made = await create_message(api, box["id"], timestamp=timestamp, folder=folder_of[letter])
            if letter == "x":
                await api.delete(f"/vmboxes/{box['id']}/messages/{made['media_id']}")

    rows = {row["id"]: row for row in (await listing(api, "/vmboxes", paginate="false")).data}
    for box, contents in zip(boxes, BOX_CONTENTS):
        row = rows[box["id"]]
        new, saved = contents.count("n"), contents.count("s")
        assert row["messages"] == new + saved, contents
        if set(contents) & set("nsd"):
            assert row["folders"] == {"new": new, "saved": saved}, contents
        else:
            assert "folders" not in row, contents

    async def requests_for_box_listing() -> int:
        counts = []
        for _ in range(2):  # the smaller of two: the account may be read once more when its cache expires
            before = voicemail.store.requests
            await listing(api, "/vmboxes", paginate="false")
            counts.append(voicemail.store.requests - before)
        return min(counts)

    few = await requests_for_box_listing()
    for _ in range(3):
        await api.create_box()
    for box in boxes[:4]:
        await two_months(api, box["id"], each=3)
    assert await requests_for_box_listing() == few


async def test_deleting_a_box_soft_deletes_its_messages(api, couch):
    box, other = await api.create_box(), await api.create_box()
    made = await two_months(api, box["id"], each=2)
    kept = await two_months(api, other["id"], each=1)
    response = await api.delete(f"/vmboxes/{box['id']}", json={"data": {}})
    assert response.status == 200, response.json
    for message in made:
        doc = await stored(couch, api, message["media_id"])
        assert doc["pvt_deleted"] is True and doc["metadata"]["folder"] == "deleted"
    for message in kept:
        assert "pvt_deleted" not in await stored(couch, api, message["media_id"])
    account_wide = await listing(api, "/vmboxes/messages")
    assert [list(item) for item in account_wide.data] == [[other["id"]]] * 2
    [row] = (await listing(api, "/vmboxes")).data
    assert row["id"] == other["id"] and row["messages"] == 2
