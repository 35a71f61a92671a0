"""Hook documents as Kazoo stores them (cb_webhooks, kzd_webhook): in the aggregate `webhooks` database,
`pvt_type: webhook` with `pvt_account_id`, validated against Kazoo's `webhooks` schema (defaults written) and
its modifiers check of `custom_data`. A deleted hook is soft-deleted (`pvt_deleted`), as crossbar_doc:delete."""
from __future__ import annotations

import re
from typing import Any

from ..storage import JSON, Conflict
from ..storage.dbnames import encoded, gregorian_now
from ..storage.store import Store
from ..voicemail.accounts import Account
from ..voicemail.errors import BadIdentifier, Invalid, field_error
from ..voicemail import filters, paging
from ..voicemail.ids import new_id
from ..voicemail.inputs import ListingQuery
from ..voicemail.validation import validate
from . import available, receivers

DB = "webhooks"
CLASSIFICATION = "webhooks"  # couch_views/webhooks/
SCHEMA = "webhooks"
TYPE = "webhook"
HOOK_ID = re.compile(r"^[0-9a-f]{32}$")
DISABLED_MESSAGE = "pvt_disabled_message"
AUTO_DISABLED = "too many failed attempts"
SECRET = "signing_secret"
SAVE_TRIES = 5


def public(doc: JSON) -> JSON:
    """What the API shows of a hook: no `_`/`pvt_` keys, no signing secret; `disable_reason` when disabled."""
    out = {key: value for key, value in doc.items()
           if not key.startswith(("_", "pvt_")) and key != SECRET}
    out["id"] = doc["_id"]
    if doc.get(DISABLED_MESSAGE):
        out["disable_reason"] = doc[DISABLED_MESSAGE]
    return out


def _start(account: Account, token: str) -> paging.Cursor:
    """A start key this service gave out for this account's hooks: one of another account's range would list
    its hooks."""
    cursor = paging.Cursor.decode(token)
    key = cursor.key
    if cursor.segment == "" and isinstance(key, list) and 1 <= len(key) <= 2 and key[0] == account.id \
            and all(isinstance(part, str) for part in key):
        return cursor
    raise Invalid({"start_key": {"invalid": {"message": "start_key is not one this service gave out"}}})


def summary(doc: JSON) -> JSON:
    """A row of the listing (crossbar_listing)."""
    row = {"id": doc["_id"], "hook": doc.get("hook"), "name": doc.get("name"), "uri": doc.get("uri"),
           "enabled": doc.get("enabled", True) is not False}
    if doc.get("group") is not None:
        row["group"] = doc["group"]
    if doc.get(DISABLED_MESSAGE):
        row["disable_reason"] = doc[DISABLED_MESSAGE]
    return row


def _client_fields(data: JSON) -> JSON:
    return {key: value for key, value in data.items()
            if not key.startswith(("_", "pvt_")) and key not in ("id", "ui_metadata", "accept_charges",
                                                                 "disable_reason")}


def check(data: JSON, refuse_private: bool) -> JSON:
    """Schema (with defaults), hook name, uri and custom_data modifiers; returns the validated data."""
    try:
        valid = validate(SCHEMA, data)
    except Invalid as failure:
        raise Invalid(_without_secret(failure.data)) from None
    if valid["hook"] not in available.names():
        raise field_error("hook", "enum", "Value not found in enumerated list of values",
                          target=available.names(), value=valid["hook"])
    problem = receivers.uri_problem(valid["uri"])
    if problem:
        raise field_error("uri", "wrong_format", problem, format="uri", value=valid["uri"])
    if refuse_private and receivers.literal_private(valid["uri"]):
        raise field_error("uri", "forbidden", "receivers on loopback or private addresses are not allowed here")
    _check_modifiers(valid["hook"], valid.get("custom_data"))
    return valid


def _without_secret(errors: JSON) -> JSON:
    """Validation errors never echo the signing secret."""
    return {field: ({rule: {key: value for key, value in detail.items() if key not in ("value", "cause")}
                     for rule, detail in rules.items()} if field.split(".")[0] == SECRET else rules)
            for field, rules in errors.items()}


def _check_modifiers(hook: str, custom_data: JSON | None) -> None:
    """cb_webhooks:check_modifiers: with custom_data, an object hook names a `type` and an `action` of its
    lists, a notifications hook a `type` of its notifications."""
    if not custom_data or hook == available.ALL:
        return
    wanted = {available.OBJECT: {"type": available.object_types(), "action": available.object_actions()},
              available.NOTIFICATIONS: {"type": available.notification_types()}}[hook]
    errors: JSON = {}
    for key, allowed in wanted.items():
        value = custom_data.get(key)
        if value is None:
            errors[f"custom_data.{key}"] = {"required": {"message": "Field is required but missing"}}
        elif value not in allowed:
            errors[f"custom_data.{key}"] = {"enum": {"message": "Value not found in enumerated list of values",
                                                     "target": allowed, "value": value}}
    if errors:
        raise Invalid(errors)


class Hooks:
    def __init__(self, store: Store, refuse_private: bool = False, page_size: int = 50):
        self.store = store
        self.refuse_private = refuse_private
        self.page_size = page_size

    async def install(self) -> None:
        await self.store.create_db(DB, CLASSIFICATION)

    async def listing(self, account: Account, query: ListingQuery) -> paging.Page:
        """The account's hooks (rows of `crossbar_listing`, as summaries), paged as every listing is; `filter_*`
        look at what the API shows of a hook (never its signing secret, which a filter could guess at)."""
        accept = filters.build(query.filters)
        page_size = (query.page_size or self.page_size) if query.paginate else None
        start = _start(account, query.start_key) if query.paginate and query.start_key else None
        segment = paging.Segment("", DB, CLASSIFICATION, "webhooks", "crossbar_listing",
                                 {"startkey": [account.id], "endkey": [account.id, {}], "include_docs": True})
        page = await paging.collect(self.store, [segment],
                                    (lambda row: accept(public(row["doc"]))) if accept else None, page_size, start)
        page.rows = [summary(row["doc"]) for row in page.rows if row.get("doc")]
        return page

    async def create(self, account: Account, data: JSON) -> JSON:
        valid = check(_client_fields(data), self.refuse_private)
        now = gregorian_now()
        doc = {**valid, "_id": new_id(), "pvt_type": TYPE, "pvt_account_id": account.id,
               "pvt_account_db": encoded(account.db), "pvt_created": now, "pvt_modified": now, "pvt_vsn": "1"}
        await self.store.put_creating_db(DB, CLASSIFICATION, doc)
        return doc

    async def load(self, account: Account, hook_id: str) -> JSON:
        """The account's hook; 404 for an id of another form, another account's hook, or a deleted one."""
        if not HOOK_ID.fullmatch(hook_id):
            raise BadIdentifier(hook_id)
        doc = await self.store.find(DB, hook_id)
        if doc is None or doc.get("pvt_type") != TYPE or doc.get("pvt_account_id") != account.id \
                or doc.get("pvt_deleted"):
            raise BadIdentifier(hook_id)
        return doc

    async def replace(self, account: Account, hook_id: str, data: JSON) -> JSON:
        """POST: the sent fields replace the public ones (crossbar_doc:load_merge); the secret stays unless sent."""
        return await self._update(account, hook_id, lambda doc: {
            **_client_fields(data), **({SECRET: doc[SECRET]} if SECRET in doc and SECRET not in data else {})})

    async def patch(self, account: Account, hook_id: str, data: JSON) -> JSON:
        return await self._update(account, hook_id, lambda doc: {**public_and_secret(doc), **_client_fields(data)})

    async def delete(self, account: Account, hook_id: str) -> JSON:
        for _ in range(SAVE_TRIES):
            doc = await self.load(account, hook_id)
            doc.update({"pvt_deleted": True, "pvt_modified": gregorian_now()})
            try:
                await self.store.put(DB, doc)
                return doc
            except Conflict:
                continue
        raise Conflict("the hook kept changing")

    async def _update(self, account: Account, hook_id: str, merged) -> JSON:
        for _ in range(SAVE_TRIES):
            doc = await self.load(account, hook_id)
            valid = check(merged(doc), self.refuse_private)
            private = {key: value for key, value in doc.items() if key.startswith(("_", "pvt_"))}
            new = {**valid, **private, "pvt_modified": gregorian_now()}
            if new.get("enabled", True):
                new.pop(DISABLED_MESSAGE, None)  # kzd_webhook:enable/1: saving it enabled re-enables it
            try:
                await self.store.put(DB, new)
                return new
            except Conflict:
                continue
        raise Conflict("the hook kept changing")

    async def reenable(self, account: Account, data: JSON) -> int:
        """PATCH /webhooks `{"re-enable": true}`: every auto-disabled hook of the account is enabled again."""
        flag = data.get("re-enable")
        if flag is None:
            raise field_error("re-enable", "required", "Field is required but missing")
        if flag is not True:
            raise field_error("re-enable", "enum", "Value not found in enumerated list of values",
                              target=[True], value=flag)
        count = 0
        rows = await self.store.rows(DB, CLASSIFICATION, "webhooks", "crossbar_listing",
                                     startkey=[account.id], endkey=[account.id, {}], include_docs=True)
        for row in rows:
            doc = row.get("doc") or {}
            if doc.get("enabled") is False and doc.get(DISABLED_MESSAGE):
                count += await self._enable(doc)
        return count

    async def _enable(self, doc: JSON) -> int:
        for _ in range(SAVE_TRIES):
            doc = {**doc, "enabled": True, "pvt_modified": gregorian_now()}
            doc.pop(DISABLED_MESSAGE, None)
            try:
                await self.store.put(DB, doc)
                return 1
            except Conflict:
                doc = await self.store.get(DB, doc["_id"])
                if doc.get("enabled") is not False or not doc.get(DISABLED_MESSAGE):
                    return 0
        return 0

    async def disable(self, hook_id: str, reason: str = AUTO_DISABLED) -> bool:
        """The auto-disabler (webhooks_disabler:disable_hook): enabled false with a reason; False when the hook
        is gone, deleted or already disabled."""
        for _ in range(SAVE_TRIES):
            doc = await self.store.find(DB, hook_id)
            if doc is None or doc.get("pvt_deleted") or doc.get("enabled") is False:
                return False
            doc.update({"enabled": False, DISABLED_MESSAGE: reason, "pvt_modified": gregorian_now()})
            try:
                await self.store.put(DB, doc)
                return True
            except Conflict:
                continue
        return False


def public_and_secret(doc: JSON) -> dict[str, Any]:
    out = {key: value for key, value in doc.items() if not key.startswith(("_", "pvt_"))}
    out.pop("disable_reason", None)
    return out
