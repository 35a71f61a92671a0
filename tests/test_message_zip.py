"""ZIP download of a box's recordings: POST /vmboxes/{B}/messages/raw with {"data": {"messages": [...]}}
and Accept: application/zip (docs/kazoo-behaviour.md §6.17, docs/differences.md): the headers, one entry per message named as the
raw download names it (made unique), every entry's bytes, and the errors that answer no ZIP."""
from __future__ import annotations

import io
import zipfile

import pytest

from bulk_helpers import audio_message, new_messages, unknown_id
from message_helpers import (assert_bad_identifier, assert_error, audio_bytes, gregorian, previous_month,
                             times_last_month)

ZIP = {"Accept": "application/zip"}
REQUIRED = {"messages": {"required": {"message": "No array of message ids are specified"}}}


def zip_path(box: dict) -> str:
    return f"/vmboxes/{box['id']}/messages/raw"


async def download_zip(api, box: dict, ids, headers: dict | None = None):
    return await api.post(zip_path(box), json={"data": {"messages": ids}}, headers={**ZIP, **(headers or {})})


def entries(response) -> list[tuple[str, bytes]]:
    """The (name, bytes) of every entry of a 200 ZIP answer, in archive order; checks every CRC."""
    assert response.status == 200, response.body[:300]
    assert response.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.body))
    assert archive.testzip() is None
    return [(info.filename, archive.read(info)) for info in archive.infolist()]


async def raw_name(api, box: dict, message_id: str) -> str:
    """The file name the raw download of the message gives."""
    response = await api.get(f"/vmboxes/{box['id']}/messages/{message_id}/raw")
    assert response.status == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    return disposition[len("attachment; filename="):]


def assert_no_zip(response, status: int, message: str) -> dict:
    assert response.headers["Content-Type"] != "application/zip"
    return assert_error(response, status, message)


async def test_zip_holds_every_recording_named_as_its_raw_download(api):
    box = await api.create_box(timezone="America/New_York")
    recordings = {await audio_message(api, box["id"], "wav", caller_id_number="6001"): "wav",
                  await audio_message(api, box["id"], "mp3", caller_id_number="+14155550100",
                                      timestamp=times_last_month(1)[0]): "mp3",
                  await audio_message(api, box["id"], "m4a"): "m4a"}
    ids = list(recordings)

    response = await download_zip(api, box, ids)
    found = entries(response)
    assert response.headers["Content-Disposition"] == f"attachment; filename={response.headers['X-Request-ID']}.zip"
    assert [name for name, _ in found] == [await raw_name(api, box, message_id) for message_id in ids]
    assert [data for _, data in found] == [audio_bytes(kind) for kind in recordings.values()]
    assert found[0][0].startswith("6001_") and found[0][0].endswith(".wav")
    assert found[1][0].startswith("+14155550100_") and found[1][0].endswith(".mp3")
    assert found[2][0].startswith("anonymous_") and found[2][0].endswith(".mp4")  # audio/mp4


async def test_zip_entry_names_use_the_box_timezone(api):
    box = await api.create_box(timezone="Asia/Kolkata")
    year, month = previous_month()
    message_id = await audio_message(api, box["id"], "short", caller_id_number="6001",
                                     timestamp=gregorian(year, month, 2, 20, 35, 5))  # 02:05:05 on the 3rd there
    [(name, data)] = entries(await download_zip(api, box, [message_id]))
    assert name == f"6001_{year:04d}-{month:02d}-03_02:05:05.wav"
    assert data == audio_bytes("short")


async def test_zip_file_name_is_the_request_id(api):
    box = await api.create_box()
    message_id = await audio_message(api, box["id"])
    response = await download_zip(api, box, [message_id], headers={"X-Request-ID": "zip-request-42"})
    entries(response)
    assert response.headers["X-Request-ID"] == "zip-request-42"
    assert response.headers["Content-Disposition"] == "attachment; filename=zip-request-42.zip"


async def test_zip_entries_with_the_same_name_are_made_unique(api):
    box = await api.create_box()
    same = {"caller_id_number": "6001", "timestamp": times_last_month(1)[0]}
    kinds = ["wav", "short", "wav"]
    ids = [await audio_message(api, box["id"], kind, **same) for kind in kinds]
    name = await raw_name(api, box, ids[0])
    assert name.endswith(".wav")

    found = entries(await download_zip(api, box, ids))
    stem = name[:-len(".wav")]
    assert [entry for entry, _ in found] == [name, f"{stem}_1.wav", f"{stem}_2.wav"]
    assert [data for _, data in found] == [audio_bytes(kind) for kind in kinds]


async def test_zip_of_a_repeated_id_has_one_entry(api):
    box = await api.create_box()
    message_id = await audio_message(api, box["id"], "mp3")
    found = entries(await download_zip(api, box, [message_id, message_id]))
    assert [data for _, data in found] == [audio_bytes("mp3")]


async def test_zip_of_a_deleted_message_serves_it_as_its_raw_download_does(api):
    box = await api.create_box()
    message_id = await audio_message(api, box["id"], "wav")
    assert (await api.delete(f"/vmboxes/{box['id']}/messages/{message_id}")).status == 200
    assert entries(await download_zip(api, box, [message_id])) == [(await raw_name(api, box, message_id),
                                                                     audio_bytes("wav"))]


@pytest.mark.parametrize("body", [None, {}, {"data": {}}, {"data": {"messages": []}}, {"data": {"messages": "x"}}])
async def test_zip_without_ids_is_400(api, body):
    box = await api.create_box()
    await audio_message(api, box["id"])
    response = await api.post(zip_path(box), json=body, headers=ZIP)
    assert assert_no_zip(response, 400, "validation error") == REQUIRED


async def not_a_recording_of(api, new_account, box: dict, which: str) -> str:
    if which == "unknown":
        return unknown_id()
    if which == "malformed":
        return "not-a-message"
    if which == "no audio":
        return (await new_messages(api, box["id"], 1))[0]
    owner = await new_account("Other") if which == "other account" else api
    return await audio_message(owner, (await owner.create_box())["id"])


@pytest.mark.parametrize("which", ["unknown", "malformed", "other box", "other account", "no audio"])
async def test_zip_with_an_id_that_is_not_a_recording_of_the_box_is_404(api, new_account, which):
    box = await api.create_box()
    ids = [await audio_message(api, box["id"]), await not_a_recording_of(api, new_account, box, which)]
    response = await download_zip(api, box, ids)
    assert assert_no_zip(response, 404, "not_found")["message"]


@pytest.mark.parametrize("box_id", ["0" * 32, "no-such-box"])
async def test_zip_of_an_unknown_box_is_404(api, box_id):
    box = await api.create_box()
    message_id = await audio_message(api, box["id"])
    response = await download_zip(api, {"id": box_id}, [message_id])
    assert response.headers["Content-Type"] != "application/zip"
    assert_bad_identifier(response, box_id)

