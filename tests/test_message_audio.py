"""Message audio: upload (multipart/mixed, multipart/form-data, raw body), the duration read from the
file, byte-identical downloads with Kazoo's headers, HTTP Range, and the upload errors (docs/kazoo-behaviour.md §6.9, §6.15-§6.16)."""
from __future__ import annotations

import re

import pytest

from kazoo_vm.storage.dbnames import gregorian_to_datetime
from message_helpers import (AUDIO, DURATION_TOLERANCE_MS, NO_AUDIO, assert_bad_identifier, assert_error,
                             audio_bytes, create_message, gregorian, kazoo_message, modb_of, multipart,
                             previous_month, store_doc, stored, times_this_month, upload_message)


def raw_path(box: dict, message_id: str) -> str:
    return f"/vmboxes/{box['id']}/messages/{message_id}/raw"


async def put_raw(api, box: dict, message_id: str, kind: str, content_type: str | None = None):
    return await api.put(raw_path(box, message_id), data=audio_bytes(kind),
                         headers={"Content-Type": content_type or AUDIO[kind][1]})


async def assert_one_attachment(couch, api, message_id: str, kind: str, content_type: str | None = None) -> dict:
    """The stored message has exactly one attachment: this file, of this type."""
    doc = await stored(couch, api, message_id)
    [(name, stub)] = doc["_attachments"].items()
    assert stub["content_type"] == (content_type or AUDIO[kind][1])
    assert stub["length"] == len(audio_bytes(kind))
    return doc


@pytest.mark.parametrize("as_", ["mixed", "form-data"])
@pytest.mark.parametrize("kind", ["wav", "mp3", "m4a"])
async def test_upload_with_metadata_stores_the_audio_and_its_real_length(api, couch, kind, as_):
    box = await api.create_box()
    response = await upload_message(api, box["id"], kind, {"caller_id_number": "6001"}, as_=as_)
    assert response.status == 201, response.json
    metadata = response.data
    assert metadata["caller_id_number"] == "6001" and metadata["folder"] == "new"
    assert abs(metadata["length"] - AUDIO[kind][2]) <= DURATION_TOLERANCE_MS

    doc = await assert_one_attachment(couch, api, metadata["media_id"], kind)
    assert doc["metadata"] == metadata
    extension = {"wav": "wav", "mp3": "mp3", "m4a": "mp4"}[kind]
    name_pattern = r"upload0" if as_ == "form-data" else r"uploaded_file_\d{11}"  # the part's filename, else Kazoo's
    assert re.fullmatch(rf"{name_pattern}\.{extension}", next(iter(doc["_attachments"])))
    download = await api.get(raw_path(box, metadata["media_id"]))
    assert download.status == 200
    assert download.body == audio_bytes(kind)
    assert download.headers["Content-Type"] == AUDIO[kind][1]
    assert int(download.headers["Content-Length"]) == len(audio_bytes(kind))
    assert download.headers["Accept-Ranges"] == "bytes"


async def test_a_given_length_is_kept(api):
    box = await api.create_box()
    response = await upload_message(api, box["id"], "wav", {"length": 1234})
    assert response.status == 201 and response.data["length"] == 1234


async def test_create_with_a_raw_audio_body(api, couch):
    box = await api.create_box()
    response = await api.put(f"/vmboxes/{box['id']}/messages", data=audio_bytes("mp3"),
                             headers={"Content-Type": "audio/mpeg"})
    assert response.status == 201, response.json
    assert abs(response.data["length"] - AUDIO["mp3"][2]) <= DURATION_TOLERANCE_MS
    await assert_one_attachment(couch, api, response.data["media_id"], "mp3")


@pytest.mark.parametrize("box_timezone, account_timezone", [("Asia/Kolkata", None), ("Asia/Kolkata", "Asia/Tokyo"),
                                                            (None, "Asia/Kolkata")])
async def test_download_is_named_after_the_caller_and_the_time_in_the_box_timezone(new_account, box_timezone,
                                                                                  account_timezone):
    api = await new_account(timezone=account_timezone)
    box = await api.create_box(**({"timezone": box_timezone} if box_timezone else {}))
    year, month = previous_month()
    timestamp = gregorian(year, month, 2, 20, 35, 5)  # 02:05:05 on the 3rd in Kolkata (UTC+5:30)
    for kind, caller, extension in [("wav", "6001", "wav"), ("mp3", None, "mp3")]:
        fields = {"timestamp": timestamp, **({"caller_id_number": caller} if caller else {})}
        created = (await upload_message(api, box["id"], kind, fields)).data
        download = await api.get(raw_path(box, created["media_id"]))
        assert download.headers["Content-Disposition"] == \
            f"attachment; filename={caller or 'anonymous'}_{year:04d}-{month:02d}-03_02:05:05.{extension}"


@pytest.mark.parametrize("kind, content_type, stored_type", [
    ("mp3", "audio/mpeg", "audio/mpeg"),
    ("wav", "audio/wav", "audio/wav"),
    ("m4a", "audio/mp4", "audio/mp4"),
    ("mp3", "application/octet-stream", "audio/mpeg"),
    ("wav", "application/octet-stream", "audio/wav"),
])
async def test_put_raw_replaces_the_audio_and_the_length(api, couch, kind, content_type, stored_type):
    box = await api.create_box()
    created = (await upload_message(api, box["id"], "short")).data
    assert abs(created["length"] - AUDIO["short"][2]) <= DURATION_TOLERANCE_MS

    response = await put_raw(api, box, created["media_id"], kind, content_type)
    assert response.status == 201, response.json
    assert abs(response.data["length"] - AUDIO[kind][2]) <= DURATION_TOLERANCE_MS
    assert response.data == {**created, "length": response.data["length"]}
    await assert_one_attachment(couch, api, created["media_id"], kind, stored_type)
    download = await api.get(raw_path(box, created["media_id"]))
    assert download.body == audio_bytes(kind)
    assert download.headers["Content-Type"] == stored_type


@pytest.mark.parametrize("as_", ["mixed", "form-data"])
async def test_put_raw_takes_the_audio_from_a_multipart_part(api, couch, as_):
    box = await api.create_box()
    created = await create_message(api, box["id"])
    body = multipart(as_, None, [(audio_bytes("mp3"), "audio/mpeg")])
    response = await api.put(raw_path(box, created["media_id"]), data=body)
    assert response.status == 201, response.json
    await assert_one_attachment(couch, api, created["media_id"], "mp3")
    assert (await api.get(raw_path(box, created["media_id"]))).body == audio_bytes("mp3")


async def test_put_raw_twice_keeps_exactly_one_attachment(api, couch):
    box = await api.create_box()
    created = await create_message(api, box["id"])
    for kind in ("wav", "mp3", "short"):
        assert (await put_raw(api, box, created["media_id"], kind)).status == 201
    await assert_one_attachment(couch, api, created["media_id"], "short")
    assert (await api.get(raw_path(box, created["media_id"]))).body == audio_bytes("short")


async def test_put_raw_replaces_the_audio_of_a_message_kazoo_wrote(service, api, couch):
    box = await api.create_box()
    doc = kazoo_message(api, box, times_this_month(1)[0], "vm_message0000000000000000000001", audio_bytes("mp3"))
    await store_doc(service, couch, api, doc)
    assert (await put_raw(api, box, doc["_id"], "wav")).status == 201
    await assert_one_attachment(couch, api, doc["_id"], "wav")
    assert (await api.get(raw_path(box, doc["_id"]))).body == audio_bytes("wav")


@pytest.mark.parametrize("timestamp", ["63674208419", None, True, 10 ** 15, -5])
async def test_a_stored_message_with_an_unusable_timestamp_is_named_by_its_utc_seconds(service, api, couch,
                                                                                       timestamp):
    """Documents written by other programs may carry any metadata.timestamp: the download still answers,
    named by the document's utc_seconds."""
    box = await api.create_box()
    when = times_this_month(1)[0]
    doc = kazoo_message(api, box, when, "vm_message0000000000000000000002", audio_bytes("mp3"))
    doc["metadata"]["timestamp"] = timestamp
    await store_doc(service, couch, api, doc)
    for path, kwargs in ((raw_path(box, doc["_id"]), {}),
                         (f"/vmboxes/{box['id']}/messages/raw", {"json": {"data": {"messages": [doc["_id"]]}}})):
        response = await api.request("GET" if not kwargs else "POST", path, **kwargs)
        assert response.status == 200, response.body[:300]
    moment = gregorian_to_datetime(when)
    name = (await api.get(raw_path(box, doc["_id"]))).headers["Content-Disposition"]
    assert name == f"attachment; filename=10202_{moment:%Y-%m-%d}_{moment:%H:%M:%S}.mp3"


@pytest.mark.parametrize("header, first, last", [
    ("bytes=0-99", 0, 99),
    ("bytes=1000-1999", 1000, 1999),
    ("bytes=-500", None, None),
    ("bytes=46000-", 46000, None),
    ("bytes=46000-99999999", 46000, None),
    ("bytes=0-0", 0, 0),
])
async def test_range_requests_answer_206_with_the_bytes_asked_for(api, header, first, last):
    box = await api.create_box()
    created = (await upload_message(api, box["id"], "short")).data
    audio = audio_bytes("short")
    size = len(audio)
    if first is None:
        first = size - 500
    if last is None:
        last = size - 1
    response = await api.get(raw_path(box, created["media_id"]), headers={"Range": header})
    assert response.status == 206
    assert response.body == audio[first:last + 1]
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert int(response.headers["Content-Length"]) == last - first + 1
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Type"] == "audio/wav"


def sent_requests(service) -> list[tuple[str, str]]:
    """(method, path) of every CouchDB request the app sends from now on, in the order sent."""
    _, voicemail = service
    sent: list[tuple[str, str]] = []
    voicemail.store.client.listeners.append(lambda method, path: sent.append((method, path)))
    return sent


def reads_of(sent: list[tuple[str, str]], message_id: str) -> list[str]:
    """What the GETs of the message sent were for, in order: "message" (its document) or "audio"."""
    return ["message" if path.endswith(f"/{message_id}") else "audio"
            for method, path in sent if method == "GET" and f"/{message_id}" in path]


async def test_a_message_read_again_has_its_audio_asked_for_with_the_message(service, api):
    """The first download reads the message, then its audio; later ones ask for the audio where it was found
    before at once, beside the message (sent first), and get the same bytes and headers."""
    box = await api.create_box()
    audio, message_id = audio_bytes("wav"), (await upload_message(api, box["id"], "wav")).data["media_id"]
    size = len(audio)
    sent = sent_requests(service)
    for index, (header, first, last) in enumerate([("bytes=-500", size - 500, size - 1), ("bytes=-500", size - 500,
                                                   size - 1), ("bytes=100-199", 100, 199), (None, 0, size - 1)]):
        sent.clear()
        response = await api.get(raw_path(box, message_id), headers={"Range": header} if header else {})
        assert response.status == (206 if header else 200)
        assert response.body == audio[first:last + 1]
        assert int(response.headers["Content-Length"]) == last - first + 1
        assert response.headers["Content-Type"] == "audio/wav"
        if header:
            assert response.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
        assert reads_of(sent, message_id) == (["message", "audio"] if index == 0 else ["audio", "message"]), sent


async def test_a_replaced_recording_is_read_where_it_now_is(service, api):
    """After PUT .../raw the audio is another attachment, of another length: what was asked for the old one
    beside the message is dropped, and the answer is the new recording's, with its length."""
    box = await api.create_box()
    message_id = (await upload_message(api, box["id"], "wav")).data["media_id"]
    old = audio_bytes("wav")
    assert (await api.get(raw_path(box, message_id), headers={"Range": "bytes=-100"})).body == old[-100:]
    assert (await put_raw(api, box, message_id, "mp3")).status == 201
    new = audio_bytes("mp3")
    assert len(new) != len(old)
    for _ in range(2):  # the first finds the old attachment gone, the second asks for the new one at once
        response = await api.get(raw_path(box, message_id), headers={"Range": "bytes=-100"})
        assert response.status == 206 and response.body == new[-100:]
        assert response.headers["Content-Range"] == f"bytes {len(new) - 100}-{len(new) - 1}/{len(new)}"
        assert response.headers["Content-Type"] == AUDIO["mp3"][1]
    response = await api.get(raw_path(box, message_id), headers={"Range": f"bytes={len(new)}-"})
    assert response.status == 416 and response.headers["Content-Range"] == f"bytes */{len(new)}"


async def test_an_unknown_message_is_404_after_its_audio_was_read(service, api):
    """An id that is not a message of this box is refused, also when its audio was read through its own box."""
    box, other = await api.create_box(), await api.create_box()
    message_id = (await upload_message(api, box["id"], "wav")).data["media_id"]
    assert (await api.get(raw_path(box, message_id), headers={"Range": "bytes=0-9"})).status == 206
    response = await api.get(raw_path(other, message_id), headers={"Range": "bytes=0-9"})
    assert_bad_identifier(response, message_id)


@pytest.mark.parametrize("header", ["bytes=46456-", "bytes=999999-1000000", "bytes=-0"])
async def test_an_unsatisfiable_range_is_416(api, header):
    box = await api.create_box()
    created = (await upload_message(api, box["id"], "short")).data
    response = await api.get(raw_path(box, created["media_id"]), headers={"Range": header})
    assert response.status == 416
    assert response.headers["Content-Range"] == f"bytes */{len(audio_bytes('short'))}"


@pytest.mark.parametrize("header", ["bytes=5-2", "bytes=99999-2", "items=0-10", "bytes=0-1,5-6"])
async def test_a_range_that_cannot_be_honoured_gets_the_whole_file(api, header):
    box = await api.create_box()
    created = (await upload_message(api, box["id"], "short")).data
    response = await api.get(raw_path(box, created["media_id"]), headers={"Range": header})
    assert response.status == 200 and response.body == audio_bytes("short")


async def test_download_with_the_token_in_the_query_string(api):
    box = await api.create_box()
    created = (await upload_message(api, box["id"], "mp3")).data
    path = raw_path(box, created["media_id"])
    response = await api.get(f"{path}?auth_token={api.token}&folder=saved", token=None)
    assert response.status == 200 and response.body == audio_bytes("mp3")
    assert_error(await api.get(path, token=None), 401, "invalid_credentials")
    assert_error(await api.get(f"{path}?auth_token=forged", token=None), 401, "invalid_credentials")


async def test_download_of_a_message_without_folder_gives_it_new(api, couch):
    box = await api.create_box()
    created = (await upload_message(api, box["id"], "short")).data
    doc = await stored(couch, api, created["media_id"])
    del doc["metadata"]["folder"]
    await couch.put(modb_of(api, created["media_id"]), doc)
    assert (await api.get(raw_path(box, created["media_id"]))).status == 200
    assert (await stored(couch, api, created["media_id"]))["metadata"]["folder"] == "new"


async def test_a_message_without_audio_has_no_raw(api):
    box = await api.create_box()
    created = await create_message(api, box["id"])
    assert_bad_identifier(await api.get(raw_path(box, created["media_id"])), NO_AUDIO)


@pytest.mark.parametrize("as_", ["mixed", "form-data"])
async def test_two_audio_parts_are_refused_and_nothing_is_stored(api, as_):
    box = await api.create_box()
    body = multipart(as_, {}, [(audio_bytes("short"), "audio/wav"), (audio_bytes("mp3"), "audio/mpeg")])
    response = await api.put(f"/vmboxes/{box['id']}/messages", data=body)
    assert assert_error(response, 400, "validation error") == {
        "file": {"maxItems": {"message": "Please provide a single media file"}}}
    assert (await api.get(f"/vmboxes/{box['id']}/messages")).data == []


async def test_two_audio_parts_on_put_raw_leave_the_audio_alone(api, couch):
    box = await api.create_box()
    created = (await upload_message(api, box["id"], "short")).data
    body = multipart("mixed", None, [(audio_bytes("wav"), "audio/wav"), (audio_bytes("mp3"), "audio/mpeg")])
    response = await api.put(raw_path(box, created["media_id"]), data=body)
    assert "maxItems" in assert_error(response, 400, "validation error")["file"]
    await assert_one_attachment(couch, api, created["media_id"], "short")


@pytest.mark.parametrize("kwargs", [
    {"json": {"data": {}}},
    {"data": b"", "headers": {"Content-Type": "audio/wav"}},
    {"data": multipart("mixed", {"folder": "new"}, [])},
])
async def test_put_raw_without_a_file_is_400(api, kwargs):
    box = await api.create_box()
    created = await create_message(api, box["id"])
    response = await api.put(raw_path(box, created["media_id"]), **kwargs)
    assert assert_error(response, 400, "validation error") == {
        "file": {"required": {"message": "Please provide a media file"}}}


@pytest.mark.parametrize("route", ["messages", "messages/{message}/raw"])
@pytest.mark.parametrize("content_type", ["text/plain", "image/png", "video/mp4"])
async def test_content_that_is_not_audio_is_415(api, couch, route, content_type):
    box = await api.create_box()
    created = (await upload_message(api, box["id"], "short")).data
    path = f"/vmboxes/{box['id']}/" + route.format(message=created["media_id"])
    response = await api.put(path, data=b"not audio at all", headers={"Content-Type": content_type})
    assert_error(response, 415, "unsupported_media_type")
    response = await api.put(path, data=multipart("mixed", {}, [(b"not audio at all", content_type)]))
    assert_error(response, 415, "unsupported_media_type")
    listing = await api.get(f"/vmboxes/{box['id']}/messages")
    assert [item["media_id"] for item in listing.data] == [created["media_id"]]
    await assert_one_attachment(couch, api, created["media_id"], "short")
