"""Kazoo's webhooks API (reference §4): the available hooks, an account's hooks, validation, re-enabling,
and the attempt log; stored as Kazoo stores them."""
from __future__ import annotations

import pytest

from kazoo_vm.events import payloads
from kazoo_vm.storage.dbnames import gregorian_now

from webhook_helpers import delete_hooks

HOOK = {"name": "CRM", "uri": "http://127.0.0.1:9/hook", "hook": "object",
        "custom_data": {"type": "mailbox_message", "action": "doc_created"}}


@pytest.fixture
async def api(new_account, couch):
    made = []

    async def make(**kw):
        account = await new_account(**kw)
        made.append(account.account_id)
        return account
    yield await make()
    await delete_hooks(couch, made)


async def test_available_hooks_need_no_auth_and_name_their_modifiers(api):
    response = await api.get("/v2/webhooks", token=False)
    assert response.status == 200, response.json
    hooks = {hook["id"]: hook for hook in response.data}
    assert set(hooks) == {"object", "notifications"}
    assert "mailbox_message" in hooks["object"]["modifiers"]["type"]["items"]
    assert hooks["object"]["modifiers"]["action"]["items"] == ["doc_created", "doc_edited", "doc_deleted"]
    assert {"voicemail_new", "voicemail_saved"} <= set(hooks["notifications"]["modifiers"]["type"]["items"])


async def test_samples_need_no_auth_filter_as_crossbar_and_are_shaped_as_deliveries(api):
    names = await api.get("/v2/webhooks/samples", token=False)
    assert names.status == 200 and names.data == ["notifications", "object"]
    objects = await api.get("/v2/webhooks/samples/object", token=False)
    assert objects.status == 200
    assert {(item["type"], item["action"]) for item in objects.data} == {
        (doc_type, action) for doc_type in ("mailbox_message", "vmbox")
        for action in ("doc_created", "doc_edited", "doc_deleted")}
    assert all(set(item) == {"id", "account_id", "action", "type", "event_id"} for item in objects.data)
    deleted = await api.get("/v2/webhooks/samples/object?filter_action=doc_deleted&filter_type=vmbox", token=False)
    assert [(item["type"], item["action"]) for item in deleted.data] == [("vmbox", "doc_deleted")]
    notifications = (await api.get("/v2/webhooks/samples/notifications", token=False)).data
    assert [item["event_name"] for item in notifications] == ["voicemail_new", "voicemail_saved"]
    # the keys a delivery of a message with every field carries (a transcription only when there is one)
    message = {"_id": "202611-" + "a" * 32, "source_id": "b" * 32,
               "metadata": dict.fromkeys(("timestamp", "length", "caller_id_name", "caller_id_number", "from_user",
                                          "from_realm", "to_user", "to_realm", "call_id"), "x")}
    delivered = payloads.voicemail_payload("e" * 32, "voicemail_new", api.account_id, message)
    assert all(set(item) == set(delivered) for item in notifications)


async def test_a_hook_without_samples_is_404(api):
    response = await api.get("/v2/webhooks/samples/channel_create", token=False)
    assert response.status == 404 and response.json["message"] == "not_found", response.json


async def test_a_hook_is_created_with_kazoos_defaults_and_stored_in_the_webhooks_database(api, couch):
    response = await api.put("/webhooks", json={"data": {**HOOK, "signing_secret": "s" * 32}})
    assert response.status == 201, response.json
    hook = response.data
    assert hook["http_verb"] == "post" and hook["format"] == "form-data" and hook["retries"] == 2
    assert hook["enabled"] is True and "signing_secret" not in hook
    stored = await couch.get("webhooks", hook["id"])
    assert stored["pvt_type"] == "webhook" and stored["pvt_account_id"] == api.account_id
    assert stored["signing_secret"] == "s" * 32
    listing = await api.get("/webhooks")
    assert listing.status == 200
    assert listing.data == [{"id": hook["id"], "hook": "object", "name": "CRM", "uri": HOOK["uri"], "enabled": True}]
    fetched = await api.get(f"/webhooks/{hook['id']}")
    assert fetched.status == 200 and fetched.data == hook


async def test_post_replaces_patch_merges_delete_soft_deletes(api, couch):
    hook = (await api.put("/webhooks", json={"data": {**HOOK, "signing_secret": "k" * 20}})).data
    patched = await api.patch(f"/webhooks/{hook['id']}", json={"data": {"format": "json", "retries": 4}})
    assert patched.status == 200, patched.json
    assert patched.data["format"] == "json" and patched.data["custom_data"] == HOOK["custom_data"]
    replaced = await api.post(f"/webhooks/{hook['id']}", json={"data": {"name": "B", "uri": "https://example.com/x",
                                                                        "hook": "notifications"}})
    assert replaced.status == 200, replaced.json
    assert "custom_data" not in replaced.data and replaced.data["format"] == "form-data"
    assert (await couch.get("webhooks", hook["id"]))["signing_secret"] == "k" * 20
    deleted = await api.delete(f"/webhooks/{hook['id']}")
    assert deleted.status == 200
    assert (await couch.get("webhooks", hook["id"]))["pvt_deleted"] is True
    assert (await api.get(f"/webhooks/{hook['id']}")).status == 404
    assert (await api.get("/webhooks")).data == []


@pytest.mark.parametrize("data, field, rule", [
    ({**HOOK, "hook": "channel_create"}, "hook", "enum"),
    ({**HOOK, "uri": "ftp://example.com/"}, "uri", "wrong_format"),
    ({**HOOK, "uri": "not a uri"}, "uri", "wrong_format"),
    ({**HOOK, "custom_data": {"type": "mailbox_message"}}, "custom_data.action", "required"),
    ({**HOOK, "custom_data": {"type": "nothing", "action": "doc_created"}}, "custom_data.type", "enum"),
    ({**HOOK, "hook": "notifications", "custom_data": {"type": "voicemail_full"}}, "custom_data.type", "enum"),
    ({**HOOK, "custom_data": {"type": 5, "action": "doc_created"}}, "custom_data.type", "type"),
    ({**HOOK, "http_verb": "delete"}, "http_verb", "enum"),
    ({**HOOK, "retries": 9}, "retries", "maximum"),
    ({"name": "x", "hook": "object"}, "uri", "required"),
])
async def test_bad_hooks_are_400_and_store_nothing(api, data, field, rule):
    response = await api.put("/webhooks", json={"data": data})
    assert response.status == 400, response.json
    assert rule in response.data[field], response.data
    assert (await api.get("/webhooks")).data == []


async def test_a_short_secret_is_refused_without_echoing_it(api):
    response = await api.put("/webhooks", json={"data": {**HOOK, "signing_secret": "short-secret"}})
    assert response.status == 400
    assert "minLength" in response.data["signing_secret"]
    assert b"short-secret" not in response.body


async def test_bad_patches_change_nothing(api, couch):
    hook = (await api.put("/webhooks", json={"data": HOOK})).data
    before = await couch.get("webhooks", hook["id"])
    for data in ({"uri": "gopher://x"}, {"custom_data": {"type": "vmbox"}}, {"enabled": "maybe"}):
        response = await api.patch(f"/webhooks/{hook['id']}", json={"data": data})
        assert response.status == 400, (data, response.json)
    assert await couch.get("webhooks", hook["id"]) == before


async def test_unknown_and_malformed_ids_are_404(api):
    for hook_id in ("0" * 32, "not-a-hook-id"):
        for method in ("get", "post", "patch", "delete"):
            response = await api.request(method.upper(), f"/webhooks/{hook_id}", json={"data": HOOK})
            assert response.status == 404, (method, hook_id, response.json)
            assert response.json["message"] == "bad_identifier"


async def test_another_accounts_hooks_are_403_and_invisible(api, new_account, couch):
    other = await new_account(name="Other")
    try:
        hook = (await other.put("/webhooks", json={"data": HOOK})).data
        assert (await api.get(f"/v2/accounts/{other.account_id}/webhooks")).status == 403
        assert (await api.get(f"/v2/accounts/{other.account_id}/webhooks/{hook['id']}")).status == 403
        assert (await api.put(f"/v2/accounts/{other.account_id}/webhooks", json={"data": HOOK})).status == 403
        assert (await api.get(f"/webhooks/{hook['id']}")).status == 404
        assert (await api.get("/webhooks", token=False)).status == 401
    finally:
        await delete_hooks(couch, [other.account_id])


async def test_a_parent_reaches_its_childs_hooks(api, new_account, couch):
    child = await new_account(name="Child", parent=api)
    try:
        response = await api.put(f"/v2/accounts/{child.account_id}/webhooks", json={"data": HOOK})
        assert response.status == 201
        assert (await couch.get("webhooks", response.data["id"]))["pvt_account_id"] == child.account_id
    finally:
        await delete_hooks(couch, [child.account_id])


async def test_reenable_enables_only_auto_disabled_hooks(api, couch):
    auto = (await api.put("/webhooks", json={"data": HOOK})).data
    manual = (await api.put("/webhooks", json={"data": {**HOOK, "enabled": False}})).data
    doc = await couch.get("webhooks", auto["id"])
    doc.update({"enabled": False, "pvt_disabled_message": "too many failed attempts"})
    await couch.put("webhooks", doc)
    listed = {row["id"]: row for row in (await api.get("/webhooks")).data}
    assert listed[auto["id"]]["disable_reason"] == "too many failed attempts"
    assert (await api.get(f"/webhooks/{auto['id']}")).data["disable_reason"] == "too many failed attempts"
    assert (await api.patch("/webhooks", json={"data": {}})).data == {
        "re-enable": {"required": {"message": "Field is required but missing"}}}
    assert "enum" in (await api.patch("/webhooks", json={"data": {"re-enable": False}})).data["re-enable"]
    response = await api.patch("/webhooks", json={"data": {"re-enable": True}})
    assert response.status == 200, response.json
    assert (await api.get(f"/webhooks/{auto['id']}")).data["enabled"] is True
    assert "disable_reason" not in (await api.get(f"/webhooks/{auto['id']}")).data
    assert (await api.get(f"/webhooks/{manual['id']}")).data["enabled"] is False


async def test_saving_a_disabled_hook_enabled_clears_its_reason(api, couch):
    hook = (await api.put("/webhooks", json={"data": HOOK})).data
    doc = await couch.get("webhooks", hook["id"])
    doc.update({"enabled": False, "pvt_disabled_message": "too many failed attempts"})
    await couch.put("webhooks", doc)
    response = await api.patch(f"/webhooks/{hook['id']}", json={"data": {"enabled": True}})
    assert response.status == 200 and "disable_reason" not in response.data
    assert "pvt_disabled_message" not in await couch.get("webhooks", hook["id"])


async def test_attempt_listings_check_their_window(api):
    hook = (await api.put("/webhooks", json={"data": HOOK})).data
    assert (await api.get("/webhooks/attempts")).data == []
    assert (await api.get(f"/webhooks/{hook['id']}/attempts")).data == []
    now = gregorian_now()
    for query in (f"created_from={now}&created_to={now - 10}", f"created_from={now - 40 * 86400}&created_to={now}",
                  "created_from=yesterday", "created_to=9342715602822387153764352", "created_from=-5"):
        response = await api.get(f"/webhooks/attempts?{query}")
        assert response.status == 400, (query, response.json)
    assert (await api.get(f"/webhooks/{'0' * 32}/attempts")).status == 404


async def test_bad_bodies_are_400(api):
    for body in (b"{", b"[]", b'{"data": 5}'):
        response = await api.put("/webhooks", data=body, headers={"Content-Type": "application/json"})
        assert response.status == 400, (body, response.json)


async def test_the_hook_listing_pages_and_filters_as_every_listing(api, new_account, couch):
    other = await new_account(name="Other")
    try:
        made = [(await api.put("/webhooks", json={"data": {**HOOK, "name": f"hook {n}", "signing_secret": "s" * 20,
                                                             "hook": "notifications" if n == 2 else "object",
                                                             "custom_data": {} if n == 2 else HOOK["custom_data"]}}
                                 )).data["id"] for n in range(3)]
        foreign = (await other.put("/webhooks", json={"data": HOOK})).data["id"]
        first = await api.get("/webhooks?page_size=2")
        assert first.status == 200 and len(first.data) == 2 and first.json["page_size"] == 2, first.json
        second = await api.get(f"/webhooks?page_size=2&start_key={first.json['next_start_key']}")
        assert second.status == 200 and "next_start_key" not in second.json, second.json
        assert sorted(item["id"] for item in first.data + second.data) == sorted(made)
        again = await api.get(f"/webhooks?page_size=2&start_key={first.json['start_key']}")
        assert again.data == first.data
        everything = await api.get("/webhooks?paginate=false")
        assert sorted(item["id"] for item in everything.data) == sorted(made) and "page_size" not in everything.json
        notifications = await api.get("/webhooks?filter_hook=notifications")
        assert [item["id"] for item in notifications.data] == [made[2]]
        # the secret is not what the API shows of a hook, so no filter can guess at it
        assert (await api.get("/webhooks?filter_signing_secret=" + "s" * 20)).data == []
        # a start key from another account's listing would reach into its range of the view
        theirs = (await other.get("/webhooks?page_size=1")).json["start_key"]
        refused = await api.get(f"/webhooks?start_key={theirs}")
        assert refused.status == 400 and "start_key" in refused.data, refused.json
        assert foreign not in {item["id"] for item in everything.data}
    finally:
        await delete_hooks(couch, [other.account_id])
