"""Hostile tokens on every route family (docs/architecture.md, promises): what tests/test_auth.py checks on the
box routes, here on each family a client uses, the raw audio taking its token from the query string as an
`<audio>` element sends it. A token reaches its own account and those below it, nothing else."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from conftest import Api
from kazoo_vm.http.tokens import issue
from bulk_helpers import audio_message
from message_helpers import modb_of
from test_auth import bad_token
from cleanup import delete_accounts

INVALID = ["tampered", "wrong signature", "alg none", "expired", "garbage"]


@dataclass
class Family:
    """A route family: method, path under the account (`{B}` the box, `{M}` its message), JSON body."""
    method: str
    path: str
    body: dict | None = None
    in_query: bool = False


FAMILIES = {
    "vmboxes list": Family("GET", "/vmboxes"),
    "one vmbox": Family("GET", "/vmboxes/{B}"),
    "messages list": Family("GET", "/vmboxes/{B}/messages"),
    "one message": Family("GET", "/vmboxes/{B}/messages/{M}"),
    "bulk": Family("POST", "/vmboxes/{B}/messages", {"data": {"messages": ["{M}"], "folder": "saved"}}),
    "raw audio": Family("GET", "/vmboxes/{B}/messages/{M}/raw", in_query=True),
    "zip": Family("POST", "/vmboxes/{B}/messages/raw", {"data": {"messages": ["{M}"]}}),
    "account-wide listing": Family("GET", "/vmboxes/messages"),
}


@dataclass
class Tree:
    """A parent account with a child, and an unrelated account; the parent and the child each have a box
    with a recorded message (ids by account id)."""
    parent: Api
    child: Api
    stranger: Api
    boxes: dict[str, str]
    messages: dict[str, str]


@pytest.fixture(scope="module")
async def tree(service, http, settings, couch):
    base, voicemail = service
    made: list[str] = []

    async def account(name: str, parent: Api | None = None) -> Api:
        found, api_key = await voicemail.accounts.create(name, None, parent and parent.account_id)
        made.append(found.id)
        return Api(base, http, found.id, issue(settings.secret, found.id, 3600), api_key, found.realm)

    parent = await account("Reseller")
    child, stranger = await account("Customer", parent), await account("Stranger")
    boxes, messages = {}, {}
    for owner in (parent, child):
        boxes[owner.account_id] = (await owner.create_box())["id"]
        messages[owner.account_id] = await audio_message(owner, boxes[owner.account_id])
    yield Tree(parent, child, stranger, boxes, messages)
    await delete_accounts(couch, made)


def target_and_token(tree: Tree, kind: str, secret: str) -> tuple[Api, str]:
    """The account a request goes to, and the token it carries."""
    if kind == "another account":
        return tree.child, tree.stranger.token
    if kind == "parent on child":
        return tree.child, tree.parent.token
    if kind == "child on parent":
        return tree.parent, tree.child.token
    return tree.child, bad_token(kind, secret, tree.child.account_id)


async def call(target: Api, family: Family, box_id: str, message_id: str, token: str):
    def fill(text: str) -> str:
        return text.replace("{B}", box_id).replace("{M}", message_id)

    path = fill(family.path)
    body = None if family.body is None else {"data": {key: [fill(item) for item in value] if isinstance(value, list)
                                                      else value for key, value in family.body["data"].items()}}
    if family.in_query:
        return await target.request(family.method, f"{path}?auth_token={token}", json=body, token=None)
    return await target.request(family.method, path, json=body, token=token)


@pytest.mark.parametrize("kind", [*INVALID, "another account", "child on parent", "parent on child"])
@pytest.mark.parametrize("family", FAMILIES)
async def test_a_token_reaches_its_account_and_those_below_only(tree, couch, settings, family, kind):
    target, token = target_and_token(tree, kind, settings.secret)
    box_id, message_id = tree.boxes[target.account_id], tree.messages[target.account_id]
    before = await couch.get(modb_of(target, message_id), message_id)
    response = await call(target, FAMILIES[family], box_id, message_id, token)
    if kind == "parent on child":
        assert response.status == 200, response.body[:300]
        return
    status, message = (401, "invalid_credentials") if kind in INVALID else (403, "forbidden")
    assert response.status == status, response.body[:300]
    assert response.headers["Content-Type"] == "application/json"
    body = response.json
    assert (body["status"], body["error"], body["message"]) == ("error", str(status), message), body
    if kind in INVALID:  # a token that did not authenticate is never echoed
        assert body["auth_token"] == "" and token not in response.body.decode()
    else:  # a valid token for the wrong account authenticated the request: Crossbar echoes it
        assert body["auth_token"] == token
    assert await couch.get(modb_of(target, message_id), message_id) == before
