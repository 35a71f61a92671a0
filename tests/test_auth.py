"""Tokens: `PUT /v2/api_auth`, and who may reach which account (docs/architecture.md, promises)."""
from __future__ import annotations

import base64
import json
import secrets
import time

import jwt
import pytest

from kazoo_vm.http.tokens import _key, issue


def assert_error(response, status: int, message: str) -> None:
    assert response.status == status, response.json
    assert response.json["status"] == "error"
    assert response.json["error"] == str(status) and response.json["message"] == message


async def api_auth(api, body) -> object:
    return await api.put("/v2/api_auth", json=body, token=None)


# --- PUT /v2/api_auth -------------------------------------------------------------------------------------

async def test_api_key_gives_a_token_for_the_account(api):
    response = await api_auth(api, {"data": {"api_key": api.api_key}})
    assert response.status == 201, response.json
    assert response.data["account_id"] == api.account_id
    token = response.json["auth_token"]
    assert token and api.api_key not in response.body.decode()
    listed = await api.get("/vmboxes", token=token)
    assert listed.status == 200 and listed.data == []


@pytest.mark.parametrize("api_key", ["wrong", "0" * 64])
async def test_wrong_api_key_is_401(api, api_key):
    response = await api_auth(api, {"data": {"api_key": api_key}})
    assert_error(response, 401, "invalid_credentials")
    assert response.json["auth_token"] == ""


@pytest.mark.parametrize("body", [{"data": {}}, {}, {"data": {"api_key": ""}}, {"data": {"api_key": 12}},
                                  {"api_key": "top-level is not read"}])
async def test_missing_api_key_is_400(api, body):
    response = await api_auth(api, body)
    assert_error(response, 400, "validation error")
    assert "required" in response.data["api_key"]


async def test_a_deleted_accounts_api_key_is_refused(api, couch):
    doc = await couch.get("accounts", api.account_id)
    await couch.put("accounts", {**doc, "pvt_deleted": True})
    assert_error(await api_auth(api, {"data": {"api_key": api.api_key}}), 401, "invalid_credentials")


# --- tokens on /v2/accounts/... ---------------------------------------------------------------------------

def _b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def bad_token(kind: str, secret: str, account_id: str) -> str | None:
    now = int(time.time())
    if kind == "missing":
        return None
    if kind == "garbage":
        return "not-a-token"
    if kind == "expired":
        return issue(secret, account_id, -60)
    if kind == "wrong signature":
        return issue(secret + "-other", account_id, 3600)
    if kind == "tampered":
        header, _, signature = issue(secret, secrets.token_hex(16), 3600).split(".")
        return ".".join([header, _b64({"account_id": account_id, "iat": now, "exp": now + 3600}), signature])
    if kind == "alg none":
        return jwt.encode({"account_id": account_id, "iat": now, "exp": now + 3600}, None, algorithm="none")
    if kind == "no expiry":
        return jwt.encode({"account_id": account_id}, _key(secret), algorithm="HS256")
    if kind == "no account":
        return jwt.encode({"exp": now + 3600}, _key(secret), algorithm="HS256")
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing", "garbage", "expired", "wrong signature", "tampered", "alg none",
                                  "no expiry", "no account"])
@pytest.mark.parametrize("where", ["header", "query"])
async def test_invalid_tokens_are_401(api, settings, couch, kind, where):
    token = bad_token(kind, settings.secret, api.account_id)
    if where == "header":
        response = await api.put("/vmboxes", json={"data": {"name": "X", "mailbox": "1"}}, token=token)
    else:
        query = f"?auth_token={token}" if token else ""
        response = await api.put(f"/vmboxes{query}", json={"data": {"name": "X", "mailbox": "1"}}, token=None)
    assert_error(response, 401, "invalid_credentials")
    assert response.data == {"message": "invalid credentials"}
    assert (await api.get("/vmboxes")).data == []


async def test_token_in_the_query_string(api):
    box = await api.create_box()
    response = await api.get(f"/vmboxes/{box['id']}?auth_token={api.token}", token=None)
    assert response.status == 200 and response.data["id"] == box["id"]


async def test_another_accounts_token_is_forbidden(new_account):
    first, second = await new_account(), await new_account()
    response = await second.put("/vmboxes", json={"data": {"name": "X", "mailbox": "1"}}, token=first.token)
    assert_error(response, 403, "forbidden")
    assert_error(await second.get("/vmboxes", token=first.token), 403, "forbidden")
    assert (await second.get("/vmboxes")).data == []


async def test_a_parents_token_reaches_its_descendants(new_account):
    parent = await new_account("Reseller")
    child = await new_account("Customer", parent=parent)
    grandchild = await new_account("Branch", parent=child)
    for account in (child, grandchild):
        response = await account.put("/vmboxes", json={"data": {"name": "X", "mailbox": "1"}}, token=parent.token)
        assert response.status == 201, response.json
        assert (await account.get("/vmboxes")).data[0]["id"] == response.data["id"]
    assert (await grandchild.get("/vmboxes", token=child.token)).status == 200


async def test_a_childs_token_does_not_reach_its_parent_or_siblings(new_account):
    parent = await new_account("Reseller")
    child = await new_account("Customer", parent=parent)
    sibling = await new_account("Other customer", parent=parent)
    assert_error(await parent.get("/vmboxes", token=child.token), 403, "forbidden")
    assert_error(await sibling.get("/vmboxes", token=child.token), 403, "forbidden")


@pytest.mark.parametrize("account_id", [secrets.token_hex(16), "not-an-account", "A" * 32])
async def test_unknown_account_is_404(api, account_id):
    response = await api.get(f"/v2/accounts/{account_id}/vmboxes")
    assert_error(response, 404, "bad_identifier")
    assert response.data["cause"] == account_id
