"""The attempt log (webhooks_util:save_attempt): one `webhook_attempt` document per attempt in the hook
owner's monthly database, with Kazoo's fields, listed newest first over a time window as
`GET .../webhooks/attempts` and `.../webhooks/{id}/attempts` show them."""
from __future__ import annotations

import logging
from collections.abc import Mapping

from ..storage import JSON, StorageError
from ..storage.dbnames import (encoded, gregorian_now, modb, month_start, months_between, year_month)
from ..storage.design_docs import MODB
from ..storage.store import Store
from ..voicemail.accounts import Account
from ..voicemail.errors import field_error
from ..voicemail.ids import new_id

log = logging.getLogger("kazoo_vm.webhooks")
TYPE = "webhook_attempt"
MAX_RANGE = 31 * 86400  # crossbar.maximum_range
MAX_ROWS = 1000
DESIGN = "webhooks"


def window(query: Mapping[str, str], now: int | None = None) -> tuple[int, int]:
    """created_from/created_to (Gregorian seconds), at most 31 days apart; default: the last 31 days."""
    now = now or gregorian_now()
    try:
        created_to = int(query.get("created_to", now))
        created_from = int(query.get("created_from", created_to - MAX_RANGE))
    except ValueError:
        raise field_error("created_from", "type", "created_from and created_to are Gregorian seconds") from None
    if not month_start(1970, 1) <= created_from <= created_to < month_start(9999, 12):
        if created_from > created_to:
            raise field_error("created_from", "date_range", "created_from is after created_to")
        raise field_error("created_to", "date_range", "created_from and created_to must be within 1970-9999")
    if created_from > created_to:
        raise field_error("created_from", "date_range", "created_from is after created_to")
    if created_to - created_from > MAX_RANGE:
        raise field_error("created_from", "date_range", f"the window is more than {MAX_RANGE} seconds")
    if created_from < month_start(1970, 1):
        raise field_error("created_from", "date_range", "created_from is before 1970")
    return created_from, created_to


def present(doc: JSON) -> JSON:
    """A listed attempt: the document with `timestamp` = pvt_created, without ids and private keys."""
    out = {key: value for key, value in doc.items() if not key.startswith(("_", "pvt_")) and key != "id"}
    out["timestamp"] = doc.get("pvt_created")
    return out


class Attempts:
    def __init__(self, store: Store):
        self.store = store

    async def save(self, account_id: str, attempt: JSON) -> None:
        """Store one attempt; a failure to store is logged, never raised (the delivery has happened)."""
        now = gregorian_now()
        year, month = year_month(now)
        db = modb(account_id, year, month)
        doc = {**attempt, "_id": f"{year:04d}{month:02d}-{new_id()}", "pvt_type": TYPE,
               "pvt_account_id": account_id, "pvt_account_db": encoded(db), "pvt_created": now,
               "pvt_modified": now}
        try:
            await self.store.put_creating_db(db, MODB, doc)
        except StorageError as failure:
            log.warning("could not log a webhook attempt of hook %s: %s", attempt.get("hook_id"), failure)

    async def listing(self, account: Account, query: Mapping[str, str], hook_id: str | None = None) -> list[JSON]:
        created_from, created_to = window(query)
        found: list[JSON] = []
        for year, month in reversed(months_between(year_month(created_from), year_month(created_to))):
            db = modb(account.id, year, month)
            if hook_id is None:
                rows = await self.store.rows(db, MODB, DESIGN, "attempts_by_time_listing", startkey=created_to,
                                             endkey=created_from, descending=True, include_docs=True,
                                             limit=MAX_ROWS - len(found))
            else:
                rows = await self.store.rows(db, MODB, DESIGN, "attempts_by_hook_listing",
                                             startkey=[hook_id, created_to], endkey=[hook_id, created_from],
                                             descending=True, include_docs=True, limit=MAX_ROWS - len(found))
            found.extend(present(row["doc"]) for row in rows if row.get("doc"))
            if len(found) >= MAX_ROWS:
                break
        return found
