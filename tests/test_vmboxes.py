"""The vmbox API (docs/kazoo-behaviour.md §6.1-§6.6, docs/differences.md): what clients get back, and what CouchDB holds afterwards."""
from __future__ import annotations

import asyncio
import json
import re
import secrets
from urllib.parse import quote

import pytest
from yarl import URL

from kazoo_vm.storage.dbnames import account_db, gregorian_now
from kazoo_vm.voicemail.mailbox_claims import SETTLE_SECONDS as MAILBOX_CLAIM_SETTLE, claim_id
from secret_helpers import shows

SCHEMA_DEFAULTS = {
    "announcement_only": False, "check_if_owner": True, "delete_after_notify": False,
    "include_message_on_notify": True, "include_transcription_on_notify": True, "is_setup": False,
    "is_voicemail_ff_rw_enabled": False, "media": {}, "media_extension": "mp3", "not_configurable": False,
    "notify_email_addresses": [], "oldest_message_first": False, "require_pin": False,
    "save_after_notify": False, "seek_duration_ms": 10000, "skip_envelope": False, "skip_greeting": False,
    "skip_instructions": False, "transcribe": False,
}
BOOLEAN_FIELDS = sorted(name for name, value in SCHEMA_DEFAULTS.items() if isinstance(value, bool))
MIGRATE_NOTICE = "Please migrate your voicemail box messages to MODB"
LEGACY_WARNING = "214 Transformation applied: attribute notify_email_address replaced"
LEGACY_MESSAGES = [
    {"timestamp": 63674208419, "from": "1002@example.com", "to": "3001@example.com", "folder": "new",
     "media_id": "a" * 32, "length": 970, "call_id": "c1", "caller_id_number": "1002", "caller_id_name": "C"},
    {"timestamp": 63674208500, "from": "1003@example.com", "to": "3001@example.com", "folder": "saved",
     "media_id": "b" * 32, "length": 1200, "call_id": "c2", "caller_id_number": "1003", "caller_id_name": "D"},
]


def hex_id() -> str:
    return secrets.token_hex(16)


async def stored(couch, api, box_id: str) -> dict | None:
    return await couch.get_or_none(account_db(api.account_id), box_id)


async def write_doc(couch, api, **doc) -> dict:
    """A document written straight into the account database, as Kazoo (or an older Kazoo) left it."""
    doc.setdefault("_id", hex_id())
    return await couch.put(account_db(api.account_id), doc)


async def write_legacy_box(couch, api, **fields) -> dict:
    return await write_doc(couch, api, name="Legacy", mailbox=fields.pop("mailbox", "7100"), pvt_type="vmbox",
                           pvt_account_id=api.account_id, pvt_vsn="1", pvt_created=63800000000,
                           pvt_modified=63800000000, messages=LEGACY_MESSAGES, **fields)


def validation_errors(response) -> dict:
    assert response.status == 400, response.json
    assert response.json["error"] == "400" and response.json["message"] == "validation error"
    return response.data


def assert_bad_identifier(response, identifier: str) -> None:
    assert response.status == 404, response.json
    assert response.json["error"] == "404" and response.json["message"] == "bad_identifier"
    assert response.data == {"cause": identifier, "message": "bad identifier"}


def public_keys_only(data: dict) -> None:
    assert not [key for key in data if key.startswith("_") or key.startswith("pvt_")], data


async def listing(api, query: str = "paginate=false") -> list[dict]:
    response = await api.get(f"/vmboxes?{query}")
    assert response.status == 200, response.json
    return response.data


# --- create -----------------------------------------------------------------------------------------------

async def test_create_answers_201_with_defaults_and_location(api, couch):
    response = await api.put("/vmboxes", json={"data": {"name": "Front Desk #1", "mailbox": "3000", "pin": "1234"}})
    assert response.status == 201, response.json
    box = response.data
    assert box == {"name": "Front Desk #1", "mailbox": "3000", "pin": "1234", "id": box["id"], **SCHEMA_DEFAULTS}
    assert re.fullmatch(r"[0-9a-f]{32}", box["id"])
    assert response.headers["Location"] == box["id"]
    doc = await stored(couch, api, box["id"])
    assert response.json["revision"] == doc["_rev"]


async def test_create_stores_defaults_and_private_fields(api, couch):
    box = await api.create_box(name="Front Desk #1", mailbox="3000")
    doc = await stored(couch, api, box["id"])
    a = api.account_id
    assert doc["pvt_type"] == "vmbox"
    assert doc["pvt_account_id"] == a
    assert doc["pvt_account_db"] == f"account%2F{a[:2]}%2F{a[2:4]}%2F{a[4:]}"
    assert doc["pvt_alphanum_name"] == "frontdesk1"
    assert doc["pvt_vsn"] == "1"
    assert isinstance(doc["pvt_created"], int) and doc["pvt_created"] > 63_000_000_000
    assert doc["pvt_modified"] == doc["pvt_created"]
    assert {key: doc[key] for key in SCHEMA_DEFAULTS} == SCHEMA_DEFAULTS
    assert "id" not in doc and "pvt_deleted" not in doc


async def test_client_id_is_honoured_when_valid_and_free(api, couch):
    wanted = "reception-box_1"
    response = await api.put("/vmboxes", json={"data": {"id": wanted, "name": "Reception", "mailbox": "100"}})
    assert response.status == 201, response.json
    assert response.data["id"] == wanted and response.headers["Location"] == wanted
    assert (await stored(couch, api, wanted))["name"] == "Reception"
    assert (await api.get(f"/vmboxes/{wanted}")).data["name"] == "Reception"


async def test_client_id_that_is_taken_is_a_conflict(api, couch):
    box = await api.create_box(name="First")
    before = await stored(couch, api, box["id"])
    response = await api.put("/vmboxes", json={"data": {"id": box["id"], "name": "Second", "mailbox": "999"}})
    assert response.status == 409, response.json
    assert response.json["error"] == "409" and response.json["message"] == "datastore_conflict"
    assert await stored(couch, api, box["id"]) == before


async def test_client_id_of_an_account_document_is_a_conflict(api, couch):
    """The account database holds the account document under the account id: it must never be overwritten."""
    response = await api.put("/vmboxes", json={"data": {"id": api.account_id, "name": "X", "mailbox": "1"}})
    assert response.status == 409, response.json
    assert (await stored(couch, api, api.account_id))["pvt_type"] == "account"


@pytest.mark.parametrize("bad_id", ["has space", "x" * 65, "_design/vmboxes", "dots.in.id", "messages", 1234, ""])
async def test_malformed_client_id_is_refused(api, bad_id):
    response = await api.put("/vmboxes", json={"data": {"id": bad_id, "name": "X", "mailbox": "1"}})
    assert "id" in validation_errors(response)
    assert await listing(api) == []


# --- validation -------------------------------------------------------------------------------------------

async def test_integer_and_boolean_strings_are_coerced(api, couch):
    strings = {name: "true" for name in BOOLEAN_FIELDS} | {"check_if_owner": "false"}
    box = await api.create_box(**strings, seek_duration_ms="5000")
    doc = await stored(couch, api, box["id"])
    for name in BOOLEAN_FIELDS:
        expected = name != "check_if_owner"
        assert box[name] is expected and doc[name] is expected, name
    assert box["seek_duration_ms"] == 5000 and doc["seek_duration_ms"] == 5000


@pytest.mark.parametrize("field, value, rule", [
    ("pin", 1234, "type"),
    ("mailbox", 3000, "type"),
    ("name", True, "type"),
    ("timezone", 12345, "type"),
    ("seek_duration_ms", "abc", "type"),
    ("seek_duration_ms", "²", "type"),
    ("seek_duration_ms", "5.5", "type"),
    ("require_pin", "yes", "type"),
    ("seek_duration_ms", -1, "minimum"),
    ("media_extension", "ogg", "enum"),
    ("owner_id", "short", "minLength"),
])
async def test_values_of_the_wrong_kind_are_refused(api, field, value, rule):
    body = {"name": "Box", "mailbox": "4000", field: value}
    errors = validation_errors(await api.put("/vmboxes", json={"data": body}))
    assert list(errors) == [field] and rule in errors[field], errors
    assert await listing(api) == []


async def test_every_failing_field_is_reported_at_once(api):
    body = {"name": "x" * 129, "media_extension": "ogg", "seek_duration_ms": -1, "owner_id": "short",
            "notify_email_addresses": ["not-an-email"], "media": {"unavailable": "tooshort"},
            "notify": {"callback": {"attempts": "many"}}}
    errors = validation_errors(await api.put("/vmboxes", json={"data": body}))
    assert errors == {
        "mailbox": {"required": {"message": "Field is required but missing"}},
        "name": {"maxLength": {"message": "String must not be more than 128 characters", "target": 128,
                               "cause": "x" * 129, "value": "x" * 129}},
        "media_extension": {"enum": {"message": "Value not found in enumerated list of values",
                                     "target": ["mp3", "mp4", "wav"], "value": "ogg"}},
        "seek_duration_ms": {"minimum": {"message": "Value must be at least 0", "target": 0, "value": -1}},
        "owner_id": {"minLength": {"message": "String must be at least 32 characters", "target": 32,
                                   "cause": "short", "value": "short"}},
        "notify_email_addresses.0": {"wrong_format": {"message": "Field is not in the correct format",
                                                      "format": "email", "value": "not-an-email"}},
        "media.unavailable": {"minLength": {"message": "String must be at least 32 characters", "target": 32,
                                            "cause": "tooshort", "value": "tooshort"}},
        "notify.callback.attempts": {"type": {"message": "Value did not match type(s): integer",
                                              "target": "integer", "value": "many"}},
    }


async def test_empty_body_reports_both_required_fields(api):
    errors = validation_errors(await api.put("/vmboxes", json={"data": {}}))
    assert set(errors) == {"name", "mailbox"} and all("required" in rules for rules in errors.values())


@pytest.mark.parametrize("pin", ["q#", "zq#zq#zq", 918273, {"secret": "zq#zq#"}, ["zq#zq#"]])
async def test_pin_value_is_never_echoed_in_errors(api, pin):
    response = await api.put("/vmboxes", json={"data": {"name": "Box", "mailbox": "4000", "pin": pin}})
    assert "pin" in validation_errors(response)
    for text in ("q#", "918273", "secret"):
        assert not shows(response.body.decode(), text)


async def test_unknown_keys_are_kept(api, couch):
    extra = {"hasTranscribe": True, "type": "mainVMBox", "members": [{"id": hex_id(), "type": "user"}],
             "envelope_type": "caller_and_time", "media": {"temporary_unavailable": "x"}}
    box = await api.create_box(**extra)
    doc = await stored(couch, api, box["id"])
    for key, value in extra.items():
        assert box[key] == value and doc[key] == value


async def test_private_and_ignored_keys_from_clients_are_dropped(api, couch):
    other = hex_id()
    box = await api.create_box(pvt_type="device", pvt_account_id=other, pvt_deleted=True, pvt_custom="x",
                               _rev="1-abc", _deleted=True, _attachments={"a.mp3": {"data": "AAAA"}},
                               ui_metadata={"ui": "monster-ui", "version": "4.3"}, accept_charges=True)
    public_keys_only(box)
    assert "ui_metadata" not in box and "accept_charges" not in box
    doc = await stored(couch, api, box["id"])
    assert doc["pvt_type"] == "vmbox" and doc["pvt_account_id"] == api.account_id
    assert {"pvt_deleted", "pvt_custom", "_attachments", "ui_metadata", "accept_charges"}.isdisjoint(doc)
    assert (await api.get(f"/vmboxes/{box['id']}")).status == 200


# --- mailbox uniqueness -----------------------------------------------------------------------------------

@pytest.mark.parametrize("first, second", [("3000", "3000"), ("03000", "3000"), ("3000", "0003000"),
                                           ("sales", "sales"), ("0", "000"),
                                           ("12345678901234567890", "012345678901234567890")])
async def test_mailbox_taken_in_the_account_is_refused(api, first, second):
    await api.create_box(mailbox=first)
    response = await api.put("/vmboxes", json={"data": {"name": "Other", "mailbox": second}})
    assert validation_errors(response) == {
        "mailbox": {"unique": {"message": "Invalid mailbox number or already exists"}}}
    assert len(await listing(api)) == 1


@pytest.mark.parametrize("first, second", [("3000", "30000"), ("sales", "Sales"), ("sales", "sales "),
                                           ("3000", "3000abc"), ("12345678901234567890", "12345678901234567891")])
async def test_different_mailboxes_do_not_collide(api, first, second):
    await api.create_box(mailbox=first)
    await api.create_box(mailbox=second)
    assert sorted(row["mailbox"] for row in await listing(api)) == sorted([first, second])


async def test_uniqueness_error_is_merged_with_schema_errors(api):
    await api.create_box(mailbox="3000")
    errors = validation_errors(await api.put("/vmboxes", json={"data": {"mailbox": "3000", "pin": "12"}}))
    assert set(errors) == {"mailbox", "name", "pin"} and "unique" in errors["mailbox"]


async def test_a_merged_answer_leaves_nothing_behind_in_the_next_one(api, couch):
    # a box Kazoo stored with an empty mailbox makes "" both taken and invalid
    await couch.put(account_db(api.account_id), {"_id": hex_id(), "name": "Kazoo's", "mailbox": "",
                                                 "pvt_type": "vmbox", "pvt_account_id": api.account_id})
    errors = validation_errors(await api.put("/vmboxes", json={"data": {"mailbox": "", "name": "Empty"}}))
    assert set(errors["mailbox"]) == {"unique", "minLength"}
    await api.create_box(mailbox="3000")
    errors = validation_errors(await api.put("/vmboxes", json={"data": {"mailbox": "3000", "name": "Other"}}))
    assert errors == {"mailbox": {"unique": {"message": "Invalid mailbox number or already exists"}}}


async def test_mailboxes_are_unique_per_account_only(new_account):
    first, second = await new_account(), await new_account()
    await first.create_box(mailbox="3000")
    await second.create_box(mailbox="3000")


async def test_a_box_keeps_its_own_mailbox_on_post_and_patch(api):
    box = await api.create_box(name="Mine", mailbox="3000")
    response = await api.post(f"/vmboxes/{box['id']}", json={"data": {"name": "Renamed", "mailbox": "03000"}})
    assert response.status == 200, response.json
    response = await api.patch(f"/vmboxes/{box['id']}", json={"data": {"name": "Again"}})
    assert response.status == 200, response.json


@pytest.mark.parametrize("method", ["post", "patch"])
async def test_taking_another_boxes_mailbox_on_update_is_refused(api, couch, method):
    await api.create_box(mailbox="3000")
    box = await api.create_box(name="Mine", mailbox="4000")
    before = await stored(couch, api, box["id"])
    response = await getattr(api, method)(f"/vmboxes/{box['id']}", json={"data": {"name": "Mine", "mailbox": "3000"}})
    assert "unique" in validation_errors(response)["mailbox"]
    assert await stored(couch, api, box["id"]) == before


async def test_mailbox_of_a_deleted_box_is_free_again(api):
    box = await api.create_box(mailbox="3000")
    assert (await api.delete(f"/vmboxes/{box['id']}")).status == 200
    await api.create_box(mailbox="3000")


# --- legacy notify_email_address --------------------------------------------------------------------------

async def test_legacy_notify_email_address_is_copied_with_a_warning(api, couch):
    response = await api.put("/vmboxes", json={"data": {"name": "B", "mailbox": "1",
                                                        "notify_email_address": "ops@example.com"}})
    assert response.status == 201, response.json
    assert response.headers["Warning"] == LEGACY_WARNING
    assert response.data["notify_email_addresses"] == ["ops@example.com"]
    doc = await stored(couch, api, response.data["id"])
    assert doc["notify_email_addresses"] == ["ops@example.com"]

    response = await api.patch(f"/vmboxes/{doc['_id']}", json={"data": {"notify_email_address": "b@example.com"}})
    assert response.status == 200 and response.headers["Warning"] == LEGACY_WARNING
    assert (await stored(couch, api, doc["_id"]))["notify_email_addresses"] == ["b@example.com"]


async def test_no_warning_without_the_legacy_key(api):
    response = await api.put("/vmboxes", json={"data": {"name": "B", "mailbox": "1",
                                                        "notify_email_addresses": ["a@example.com"]}})
    assert response.status == 201 and "Warning" not in response.headers


# --- GET one ----------------------------------------------------------------------------------------------

async def test_get_returns_the_public_box(api, couch):
    box = await api.create_box(name="Reception", mailbox="100", pin="0000", timezone="Europe/Paris")
    response = await api.get(f"/vmboxes/{box['id']}")
    assert response.status == 200
    assert response.data == box
    assert response.json["revision"] == (await stored(couch, api, box["id"]))["_rev"]
    assert "message" not in response.json


async def missing_box(kind: str, api, couch, new_account) -> str:
    """A box id that must answer 404: of each kind docs/differences.md lists."""
    if kind == "unknown":
        return hex_id()
    if kind == "malformed":
        return "not.a-box!id"
    if kind == "too long":
        return "a" * 65
    if kind == "deleted":
        box = await api.create_box()
        assert (await api.delete(f"/vmboxes/{box['id']}")).status == 200
        return box["id"]
    if kind == "deleted directly":
        return (await write_doc(couch, api, name="D", mailbox="5", pvt_type="vmbox", pvt_deleted=True))["_id"]
    if kind == "other type":
        return (await write_doc(couch, api, name="A phone", mailbox="6", pvt_type="device"))["_id"]
    if kind == "another account":
        return (await (await new_account()).create_box())["id"]
    raise AssertionError(kind)


MISSING_KINDS = ["unknown", "malformed", "too long", "deleted", "deleted directly", "other type",
                 "another account"]


@pytest.mark.parametrize("kind", MISSING_KINDS)
@pytest.mark.parametrize("method", ["get", "post", "patch", "delete"])
async def test_anything_but_a_live_box_of_the_account_is_404(api, couch, new_account, method, kind):
    box_id = await missing_box(kind, api, couch, new_account)
    before = await stored(couch, api, box_id)
    body = {"data": {"name": "Valid", "mailbox": "8888"}}
    response = await getattr(api, method)(f"/vmboxes/{box_id}", json=body)
    assert_bad_identifier(response, box_id)
    assert await stored(couch, api, box_id) == before


async def test_post_with_invalid_body_on_unknown_box_is_400_first(api):
    response = await api.post(f"/vmboxes/{hex_id()}", json={"data": {"name": "No mailbox"}})
    assert "mailbox" in validation_errors(response)


async def test_patch_of_unknown_box_is_404_even_with_a_partial_body(api):
    box_id = hex_id()
    assert_bad_identifier(await api.patch(f"/vmboxes/{box_id}", json={"data": {"pin": "1234"}}), box_id)


# --- POST (replace) ---------------------------------------------------------------------------------------

async def test_post_replaces_public_fields_and_keeps_private_ones(api, couch):
    box = await api.create_box(name="Old", mailbox="100", pin="1234", timezone="Europe/Paris", require_pin=True,
                               hasTranscribe=True)
    doc = await stored(couch, api, box["id"])
    doc["pvt_kept_by_kazoo"] = "keep me"
    await couch.put(account_db(api.account_id), doc)

    response = await api.post(f"/vmboxes/{box['id']}",
                              json={"data": {"name": "New Name", "mailbox": "100", "pvt_type": "device"}})
    assert response.status == 200, response.json
    assert response.data == {"name": "New Name", "mailbox": "100", "id": box["id"], **SCHEMA_DEFAULTS}
    after = await stored(couch, api, box["id"])
    assert response.json["revision"] == after["_rev"]
    for gone in ("pin", "timezone", "hasTranscribe"):
        assert gone not in after
    assert after["require_pin"] is False
    assert after["pvt_kept_by_kazoo"] == "keep me"
    assert after["pvt_type"] == "vmbox"
    assert after["pvt_created"] == doc["pvt_created"] and after["pvt_modified"] >= doc["pvt_modified"]
    assert after["pvt_alphanum_name"] == "newname"


@pytest.mark.parametrize("method", ["post", "patch"])
async def test_invalid_update_changes_nothing(api, couch, method):
    box = await api.create_box(name="Box", mailbox="100")
    before = await stored(couch, api, box["id"])
    response = await getattr(api, method)(f"/vmboxes/{box['id']}",
                                          json={"data": {"name": "Box", "mailbox": "100", "pin": 1234}})
    assert list(validation_errors(response)) == ["pin"]
    assert await stored(couch, api, box["id"]) == before


# --- legacy messages array --------------------------------------------------------------------------------

async def test_legacy_messages_are_never_returned(api, couch):
    doc = await write_legacy_box(couch, api)
    response = await api.get(f"/vmboxes/{doc['_id']}")
    assert response.status == 200
    assert "messages" not in response.data and response.data["name"] == "Legacy"
    public_keys_only(response.data)


@pytest.mark.parametrize("method", ["post", "patch"])
async def test_legacy_messages_are_kept_on_update_with_a_notice(api, couch, method):
    doc = await write_legacy_box(couch, api)
    body = {"name": "Renamed", "mailbox": "7100", "messages": []}
    response = await getattr(api, method)(f"/vmboxes/{doc['_id']}", json={"data": body})
    assert response.status == 200, response.json
    assert response.json["message"] == MIGRATE_NOTICE
    assert "messages" not in response.data and response.data["name"] == "Renamed"
    after = await stored(couch, api, doc["_id"])
    assert after["messages"] == LEGACY_MESSAGES and after["name"] == "Renamed"


async def test_client_messages_are_not_stored_on_a_box_without_legacy_messages(api, couch):
    box = await api.create_box(messages=LEGACY_MESSAGES)
    assert "messages" not in await stored(couch, api, box["id"])
    response = await api.patch(f"/vmboxes/{box['id']}", json={"data": {"messages": LEGACY_MESSAGES}})
    assert response.status == 200 and "message" not in response.json
    assert "messages" not in await stored(couch, api, box["id"])


# --- PATCH ------------------------------------------------------------------------------------------------

async def test_patch_deep_merges(api, couch):
    unavailable = hex_id()
    box = await api.create_box(name="Box", mailbox="100", pin="1234", media={"unavailable": unavailable},
                               notify={"callback": {"attempts": 3, "number": "100"}})
    response = await api.patch(f"/vmboxes/{box['id']}", json={"data": {
        "pin": "4321", "media": {"temporary_unavailable": "tmp"}, "notify": {"callback": {"attempts": "5"}}}})
    assert response.status == 200, response.json
    expected = {**box, "pin": "4321", "media": {"unavailable": unavailable, "temporary_unavailable": "tmp"},
                "notify": {"callback": {"attempts": 5, "number": "100"}}}
    assert response.data == expected
    after = await stored(couch, api, box["id"])
    assert {key: after[key] for key in expected if key != "id"} == {k: v for k, v in expected.items() if k != "id"}


async def test_simultaneous_patches_of_different_keys_all_survive(api, couch):
    box = await api.create_box()
    responses = await asyncio.gather(*(api.patch(f"/vmboxes/{box['id']}", json={"data": {f"custom_{n}": n}})
                                       for n in range(20)))
    assert [response.status for response in responses] == [200] * 20
    after = await stored(couch, api, box["id"])
    assert {n: after.get(f"custom_{n}") for n in range(20)} == {n: n for n in range(20)}


async def raw_stored(couch, api, box_id: str) -> dict:
    """The box as CouchDB sends it, read with the standard library (not the service's JSON decoding)."""
    url = URL(f"{couch.base}/{quote(account_db(api.account_id), safe='')}/{box_id}", encoded=True)
    async with couch.session.get(url) as resp:
        return json.loads(await resp.read())


async def test_integers_beyond_64_bits_keep_every_digit_through_reads_and_writes(api, couch):
    numbers = {"huge": 123456789012345678901234567890, "negative": -9223372036854775809,
               "top_of_u64": 18446744073709551615, "past_u64": 18446744073709551616, "plain": 63900000000}
    box = await api.create_box(numbers=numbers)
    if (await raw_stored(couch, api, box["id"]))["numbers"] != numbers:
        pytest.skip("this server stores JSON numbers as doubles (PouchDB Server): nothing beyond 53 bits to keep")
    assert box["numbers"] == numbers
    assert (await api.get(f"/vmboxes/{box['id']}")).data["numbers"] == numbers
    response = await api.patch(f"/vmboxes/{box['id']}", json={"data": {"name": "Renamed"}})
    assert response.status == 200, response.json
    assert response.data["numbers"] == numbers
    after = await raw_stored(couch, api, box["id"])
    assert after["numbers"] == numbers and after["name"] == "Renamed"
    assert b'"huge":123456789012345678901234567890' in (await api.get(f"/vmboxes/{box['id']}")).body


# --- DELETE -----------------------------------------------------------------------------------------------

async def test_delete_soft_deletes(api, couch):
    box = await api.create_box(name="Gone", mailbox="100", owner_id=hex_id())
    response = await api.delete(f"/vmboxes/{box['id']}")
    assert response.status == 200, response.json
    assert response.data == {**box, "_read_only": {"deleted": True}}
    doc = await stored(couch, api, box["id"])
    assert doc["pvt_deleted"] is True and doc["name"] == "Gone"
    assert_bad_identifier(await api.get(f"/vmboxes/{box['id']}"), box["id"])
    assert await listing(api) == []


# --- GET /vmboxes -----------------------------------------------------------------------------------------

async def test_listing_rows(api, couch):
    owner = hex_id()
    with_owner = await api.create_box(name="A", mailbox="100", owner_id=owner, flags=["x"])
    plain = await api.create_box(name="B", mailbox="200")
    legacy = await write_legacy_box(couch, api, mailbox="300", flags=["f"])
    await write_doc(couch, api, name="Phone", pvt_type="device")
    deleted = await api.create_box(name="D", mailbox="400")
    await api.delete(f"/vmboxes/{deleted['id']}")

    rows = await listing(api)
    expected = [
        {"id": with_owner["id"], "name": "A", "mailbox": "100", "owner_id": owner, "messages": 0, "flags": ["x"]},
        {"id": plain["id"], "name": "B", "mailbox": "200", "messages": 0, "flags": []},
        {"id": legacy["_id"], "name": "Legacy", "mailbox": "300", "messages": 2, "flags": ["f"]},
    ]
    assert rows == sorted(expected, key=lambda row: row["id"])


async def test_listing_filters_on_any_document_field(api):
    owner, other = hex_id(), hex_id()
    mine = await api.create_box(name="Mine", mailbox="1", owner_id=owner)
    theirs = await api.create_box(name="Theirs", mailbox="2", owner_id=other, require_pin=True)
    main = await api.create_box(name="Main", mailbox="0", type="mainVMBox", delete_after_notify=True)

    async def ids(query: str) -> set[str]:
        return {row["id"] for row in await listing(api, f"paginate=false&{query}")}

    assert await ids(f"filter_owner_id={owner}") == {mine["id"]}
    assert await ids("filter_type=mainVMBox") == {main["id"]}
    assert await ids(f"filter_not_owner_id={owner}") == {theirs["id"], main["id"]}
    assert await ids(f'filter_owner_id=["{owner}","{other}"]') == {mine["id"], theirs["id"]}
    assert await ids("filter_require_pin=true") == {theirs["id"]}
    assert await ids("filter_type=mainVMBox&filter_delete_after_notify=true") == {main["id"]}
    assert await ids("filter_type=nothing") == set()


async def test_paginate_false_returns_everything_without_paging_keys(api):
    for n in range(3):
        await api.create_box(mailbox=str(500 + n))
    response = await api.get("/vmboxes?paginate=false&page_size=1")
    assert len(response.data) == 3
    assert {"page_size", "start_key", "next_start_key"}.isdisjoint(response.json)


async def walk(api, query: str) -> list[list[str]]:
    """Follow next_start_key as Monster UI does; the ids of each page."""
    pages, start = [], None
    while True:
        suffix = f"&start_key={start}" if start else ""
        response = await api.get(f"/vmboxes?{query}{suffix}")
        assert response.status == 200, response.json
        assert response.json["page_size"] == len(response.data)
        assert response.json["start_key"] == start or (not start and response.json["start_key"])
        if not start:  # the first page's start_key lists it again
            again = await api.get(f"/vmboxes?{query}&start_key={response.json['start_key']}")
            assert (again.data, again.json["start_key"], again.json.get("next_start_key")) == \
                (response.data, response.json["start_key"], response.json.get("next_start_key"))
        pages.append([row["id"] for row in response.data])
        start = response.json.get("next_start_key")
        if not start:
            return pages
        assert len(pages) < 20, "paging does not end"


async def test_paging_walks_every_box_exactly_once(api):
    ids = sorted([(await api.create_box(mailbox=str(600 + n)))["id"] for n in range(7)])
    pages = await walk(api, "page_size=3")
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [box_id for page in pages for box_id in page] == ids


async def test_paging_with_a_filter_walks_every_match_exactly_once(api):
    owner = hex_id()
    matching = []
    for n in range(9):
        box = await api.create_box(mailbox=str(700 + n), **({"owner_id": owner} if n % 2 == 0 else {}))
        if n % 2 == 0:
            matching.append(box["id"])
    pages = await walk(api, f"page_size=2&filter_owner_id={owner}")
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [box_id for page in pages for box_id in page] == sorted(matching)


@pytest.mark.parametrize("page_size", [None, "abc", "0", "-3", "2.5"])
async def test_invalid_page_size_falls_back_to_the_default(api, couch, settings, page_size):
    docs = [{"_id": hex_id(), "name": f"Box {n}", "mailbox": str(900 + n), "pvt_type": "vmbox",
             "pvt_account_id": api.account_id} for n in range(settings.page_size + 2)]
    assert all("rev" in result for result in await couch.bulk_docs(account_db(api.account_id), docs))
    response = await api.get("/vmboxes" + (f"?page_size={page_size}" if page_size else ""))
    assert response.status == 200, response.json
    assert response.json["page_size"] == settings.page_size == len(response.data)
    assert [row["id"] for row in response.data] == sorted(doc["_id"] for doc in docs)[:settings.page_size]
    assert response.json["next_start_key"]


# --- mailbox claims (uniqueness across service processes) ----------------------------------------------------

async def claim_of(couch, api, mailbox_key: str) -> dict | None:
    return await couch.get_or_none(account_db(api.account_id), claim_id(mailbox_key))


async def test_a_created_box_claims_its_mailbox_and_a_renumbered_one_frees_the_old(api, couch):
    box = await api.create_box(mailbox="05000")
    assert (await claim_of(couch, api, "5000"))["box_id"] == box["id"]
    assert (await api.patch(f"/vmboxes/{box['id']}", json={"data": {"mailbox": "5001"}})).status == 200
    assert await claim_of(couch, api, "5000") is None
    assert (await claim_of(couch, api, "5001"))["box_id"] == box["id"]
    assert (await api.put("/vmboxes", json={"data": {"name": "Again", "mailbox": "5000"}})).status == 201


async def test_deleting_a_box_frees_its_claim(api, couch):
    box = await api.create_box(mailbox="5100")
    assert (await api.delete(f"/vmboxes/{box['id']}")).status == 200
    assert await claim_of(couch, api, "5100") is None


async def test_a_refused_create_leaves_no_claim(api, couch):
    response = await api.put("/vmboxes", json={"data": {"name": "Bad", "mailbox": "5200", "pin": "1"}})
    assert response.status == 400
    assert await claim_of(couch, api, "5200") is None


@pytest.mark.parametrize("age, status", [(0, 400), (MAILBOX_CLAIM_SETTLE + 5, 201)], ids=["fresh", "stale"])
async def test_a_claim_left_by_a_stopped_process(api, couch, age, status):
    """A claim whose box never got written: while it may still be being written it holds the mailbox;
    once it has settled it is taken over."""
    await couch.put(account_db(api.account_id), {"_id": claim_id("5300"), "pvt_type": "kazoo_vm_mailbox_claim",
                                                 "mailbox": "5300", "box_id": "f" * 32,
                                                 "pvt_created": gregorian_now() - age})
    response = await api.put("/vmboxes", json={"data": {"name": "Late", "mailbox": "5300"}})
    assert response.status == status, response.json
    if status == 201:
        assert (await claim_of(couch, api, "5300"))["box_id"] == response.data["id"]
    else:
        assert response.data == {"mailbox": {"unique": {"message": "Invalid mailbox number or already exists"}}}
