"""The hooks in force, as every instance sees them: every enabled, not deleted hook of the `webhooks`
database, read again as soon as that database changes (a long-poll on its feed), so a new or changed hook
takes effect on every instance within about a second (read again half a second later, and after every quiet
long-poll, since on a cluster the feed can tell of a write before the copy a view reads has it). Which hooks an event fires (webhooks_util:find_webhooks,
match_action_type), and which accounts need their databases followed at all."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..events.records import NOTIFICATIONS, OBJECT, Event
from ..storage import JSON, StorageError
from ..storage.changes import Feeds
from ..storage.dbnames import ACCOUNTS_DB
from ..storage.design_docs import ACCOUNTS
from ..storage.store import Store
from . import available
from .hooks import CLASSIFICATION, DB, TYPE

log = logging.getLogger("kazoo_vm.webhooks")
WAIT_SECONDS = 25.0
RETRY_SECONDS = 1.0
SETTLE_SECONDS = 0.5
Trees = Callable[[str], Awaitable[tuple[str, ...]]]


def fires(hook: JSON, event: Event) -> bool:
    """Whether a hook of the event's account (or an ancestor's) takes this event, by its custom_data."""
    if hook.get("hook") not in (event.hook, available.ALL):
        return False
    custom = hook.get("custom_data") or {}
    if not custom or hook.get("hook") == available.ALL:
        return True
    if event.hook == OBJECT:
        return custom.get("type") == event.doc_type and custom.get("action") == event.name
    if event.hook == NOTIFICATIONS:
        return custom.get("type") in (event.name, "all")
    return False


class HookSet:
    def __init__(self, store: Store, feeds: Feeds, trees: Trees):
        self.store = store
        self.feeds = feeds
        self.trees = trees  # account id -> its ancestors (pvt_tree)
        self.hooks: dict[str, JSON] = {}
        self.watched: set[str] = set()
        self.loaded = asyncio.Event()
        self.changed: list[Callable[[], None]] = []

    def get(self, hook_id: str) -> JSON | None:
        return self.hooks.get(hook_id)

    async def matching(self, event: Event) -> list[JSON]:
        owners = {event.account_id}
        if any(hook.get("include_subaccounts") for hook in self.hooks.values()):
            owners |= set(await self.trees(event.account_id))
        return [hook for hook in self.hooks.values()
                if hook.get("pvt_account_id") in owners
                and (hook.get("pvt_account_id") == event.account_id or hook.get("include_subaccounts"))
                and fires(hook, event)]

    async def run(self) -> None:
        """Load the hooks, then again whenever the webhooks database changes; until cancelled."""
        since: Any = None
        while True:
            try:
                if since is None:
                    since = await self.feeds.now(DB) or 0
                    await self.reload()
                batch = await self.feeds.wait(DB, since, WAIT_SECONDS)
                if batch is None:
                    since = None
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                await self.reload()
                if batch.results:
                    # a cluster's feed may tell of a write before every copy the view reads has it
                    await asyncio.sleep(SETTLE_SECONDS)
                    await self.reload()
                since = batch.last_seq
            except StorageError as failure:
                log.warning("cannot follow the webhooks database: %s", failure)
                since = None
                await asyncio.sleep(RETRY_SECONDS)

    async def reload(self) -> None:
        rows = await self.store.rows(DB, CLASSIFICATION, "webhooks", "webhooks_listing", include_docs=True)
        hooks = {row["id"]: row["doc"] for row in rows
                 if (row.get("doc") or {}).get("pvt_type") == TYPE}
        self.hooks = hooks
        self.watched = await self._watched(hooks)
        self.loaded.set()
        for callback in self.changed:
            callback()

    async def _watched(self, hooks: dict[str, JSON]) -> set[str]:
        """Accounts whose databases must be followed: hook owners, and the descendants of owners whose hooks
        include subaccounts."""
        owners = {hook["pvt_account_id"] for hook in hooks.values() if hook.get("pvt_account_id")}
        parents = sorted({hook["pvt_account_id"] for hook in hooks.values() if hook.get("include_subaccounts")})
        if parents:
            rows = await self.store.rows(ACCOUNTS_DB, ACCOUNTS, "kazoo_vm_descendants", "by_ancestor", keys=parents)
            owners |= {row["id"] for row in rows}
        return owners
