"""A Kazoo client someone else wrote, driving the service: kazoo-sdk 0.2.4 (PyPI `kazoo-sdk`, module `kazoo`).

It authenticates with `PUT /api_auth`, reads `auth_token` from that answer's envelope, sends it as
`X-Auth-Token`, and turns Crossbar error bodies into its own exceptions: 400 with `data` ->
KazooApiBadDataError(data), 401 -> KazooApiAuthenticationError (on which it authenticates again and retries once),
anything else -> KazooApiError(text, request_id, message). It is synchronous (requests), so every call runs in a
thread while the service answers on the test's event loop."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

_json_decoder = json._default_decoder
import kazoo  # noqa: E402
from kazoo.exceptions import KazooApiAuthenticationError, KazooApiBadDataError, KazooApiError  # noqa: E402

# Importing kazoo replaces json's default decoder with one that makes OrderedDicts, for the whole process (the
# service under test runs in this process too); plain dicts serve the SDK as well.
json._default_decoder = _json_decoder

from conftest import Api  # noqa: E402


async def sdk(call: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(call, *args)


def client_of(api: Api, api_key: str | None = None) -> kazoo.Client:
    return kazoo.Client(api_key=api_key or api.api_key, base_url=f"{api.base}/v2")


@pytest.fixture
async def client(api) -> kazoo.Client:
    client = client_of(api)
    await sdk(client.authenticate)
    return client


BOX = {"name": "Reception", "mailbox": "3000", "pin": "1234", "timezone": "Europe/Paris"}


async def test_authenticate_takes_the_token_from_the_envelope(api, client):
    assert client.auth_token and client.auth_data["data"]["account_id"] == api.account_id
    listed = await sdk(client.get_voicemail_boxes, api.account_id)
    assert listed["auth_token"] == client.auth_token


async def test_the_whole_box_life_cycle(api, client):
    created = await sdk(client.create_voicemail_box, api.account_id, BOX)
    box_id = created["data"]["id"]
    assert created["status"] == "success" and created["auth_token"] == client.auth_token
    assert {key: created["data"][key] for key in BOX} == BOX

    listed = await sdk(client.get_voicemail_boxes, api.account_id)
    assert [(row["id"], row["mailbox"]) for row in listed["data"]] == [(box_id, "3000")]
    assert listed["page_size"] == 1 and listed["start_key"] and "next_start_key" not in listed

    fetched = await sdk(client.get_voicemail_box, api.account_id, box_id)
    assert fetched["data"] == created["data"]

    # update_voicemail_box is POST: Crossbar replaces the box with what is sent (a PATCH would merge)
    updated = await sdk(client.update_voicemail_box, api.account_id, box_id, {**BOX, "name": "Front desk"})
    assert updated["data"]["name"] == "Front desk" and updated["data"]["id"] == box_id
    assert (await sdk(client.get_voicemail_box, api.account_id, box_id))["data"]["name"] == "Front desk"

    deleted = await sdk(client.delete_voicemail_box, api.account_id, box_id)
    assert deleted["data"]["_read_only"] == {"deleted": True}
    assert (await sdk(client.get_voicemail_boxes, api.account_id))["data"] == []
    with pytest.raises(KazooApiError) as gone:
        await sdk(client.get_voicemail_box, api.account_id, box_id)
    assert "bad_identifier" in gone.value.args


async def test_a_duplicate_mailbox_is_its_bad_data_error(api, client):
    await sdk(client.create_voicemail_box, api.account_id, BOX)
    with pytest.raises(KazooApiBadDataError) as duplicate:
        await sdk(client.create_voicemail_box, api.account_id, {**BOX, "name": "Copy", "mailbox": "03000"})
    assert duplicate.value.field_errors["mailbox"]["unique"]["message"]
    assert len((await sdk(client.get_voicemail_boxes, api.account_id))["data"]) == 1


async def test_an_unknown_box_is_its_not_found_path(api, client):
    unknown = "f" * 32
    for call, args in [(client.get_voicemail_box, ()), (client.delete_voicemail_box, ()),
                       (client.update_voicemail_box, (BOX,))]:
        with pytest.raises(KazooApiError) as missing:
            await sdk(call, api.account_id, unknown, *args)
        text, request_id, name = missing.value.args
        assert name == "bad_identifier" and request_id


async def test_a_bad_token_is_recognised_and_replaced(api, client):
    """The SDK knows a 401 by Crossbar's body (`"error": "401"`), authenticates again with its API key and
    retries the call once."""
    client.auth_token = client.auth_token[:-6] + "AAAAAA"
    listed = await sdk(client.get_voicemail_boxes, api.account_id)
    assert listed["status"] == "success" and listed["auth_token"] == client.auth_token
    assert not client.auth_token.endswith("AAAAAA")


async def test_a_bad_token_and_a_bad_api_key_are_its_authentication_error(api, client):
    client.auth_request.api_key = "0" * 64
    client.auth_token = "not-a-token"
    with pytest.raises(KazooApiAuthenticationError):
        await sdk(client.get_voicemail_boxes, api.account_id)
    with pytest.raises(KazooApiAuthenticationError):
        await sdk(client_of(api, api_key="0" * 64).authenticate)


async def test_what_the_sdk_asks_for_that_this_service_does_not_serve(api, client):
    """kazoo-vm serves voicemail and API-key auth only. The SDK's user/password login (`PUT /user_auth`) and its
    other resources (here the account document) reach routes that do not exist here: Crossbar's 404
    `not_found`, which the SDK raises as KazooApiError, never a crash or an HTML page."""
    login = kazoo.Client(username="user", password="secret", account_name="Test", base_url=f"{api.base}/v2")
    with pytest.raises(KazooApiError) as refused:
        await sdk(login.authenticate)
    assert refused.value.args[2] == "not_found"
    with pytest.raises(KazooApiError) as refused:
        await sdk(client.get_account, api.account_id)
    assert refused.value.args[2] == "not_found"
