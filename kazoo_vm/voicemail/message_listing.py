"""Message listings across the monthly databases of a time window (crossbar_view:load_modb,
docs/kazoo-behaviour.md §5.4), and the per-box folder counts of `GET /vmboxes` (kvm_messages:count)."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..storage.dbnames import gregorian_now, modb, month_start, months_between, year_month
from ..storage.design_docs import MODB
from ..storage.store import Store
from . import filters, message_docs, paging, retention
from .accounts import Account
from .errors import Invalid
from .folders import DELETED, NEW, SAVED
from .inputs import EVERYTHING, ListingQuery
from .values import JSON, is_whole_number

MAX_RANGE = 31 * 86400 + 3600
VALUE_FIELDS = {"timestamp", "from", "to", "caller_id_number", "caller_id_name", "call_id", "folder", "length",
                "media_id", "transcribed"}


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    descending: bool = True

    def months(self) -> list[tuple[int, int]]:
        if self.end < self.start:
            return []
        months = months_between(year_month(self.start), year_month(self.end))
        return months[::-1] if self.descending else months


def window(query: ListingQuery, retention_seconds: int, now: int | None = None) -> Window:
    """created_from/created_to (Gregorian seconds) with Kazoo's defaults and date_range errors."""
    end = query.created_to or now or gregorian_now()
    given_start = query.created_from
    max_range = MAX_RANGE if given_start else retention_seconds
    start = given_start or end - max_range
    if end < start:
        raise Invalid({"created_from": {"date_range": {
            "message": f"created_to {end} is prior to created_from {start}", "cause": start}}})
    if end - start > max_range:
        raise Invalid({"created_from": {"date_range": {
            "message": f"created_to {end} is more than {max_range} seconds from created_from {start}",
            "cause": end}}})
    # only the months that message ids can name (1970-9999) are looked at
    start, end = max(start, message_docs.EARLIEST), min(end, message_docs.LATEST)
    return Window(start, end, descending=query.descending)


def _past_window(key: Any, low: list, span: Window) -> bool:
    """Whether a start key lies beyond the window in the listing's direction (nothing more to list).
    A key not shaped like this listing's keys is refused, as CouchDB would refuse the key range it makes:
    [box, ts] for a box; account-wide [ts, box], or a window's own bounds [ts, {}] and [ts] (a first page's
    start key)."""
    timestamp = _timestamp_of(key, low[0]) if len(low) == 2 else _account_timestamp_of(key)
    if not (is_whole_number(timestamp) or isinstance(timestamp, float)):
        raise _bad_start_key()
    return timestamp < span.start if span.descending else timestamp > span.end


def _timestamp_of(key: Any, box_id: str) -> Any:
    if not isinstance(key, list) or len(key) != 2 or key[0] != box_id:
        raise _bad_start_key()
    return key[1]


def _account_timestamp_of(key: Any) -> Any:
    if not isinstance(key, list) or not 1 <= len(key) <= 2 or (len(key) == 2 and not (
            isinstance(key[1], str) or key[1] == {})):
        raise _bad_start_key()
    return key[0]


def _bad_start_key() -> Invalid:
    return Invalid({"start_key": {"invalid": {"message": "start_key is not one this listing gave out"}}})


class MessageListing:
    def __init__(self, store: Store, page_size: int, retention_days: int):
        self.store = store
        self.page_size = page_size
        self.retention_days = retention_days

    def _segments(self, account: Account, view: str, span: Window, low: list, high: list,
                  include_docs: bool) -> list[paging.Segment]:
        params = {"startkey": high, "endkey": low, "descending": True} if span.descending else \
                 {"startkey": low, "endkey": high}
        if include_docs:
            params["include_docs"] = True
        return [paging.Segment(f"{year:04d}{month:02d}", modb(account.id, year, month), MODB, "mailbox_messages",
                               view, params) for year, month in span.months()]

    async def _page(self, account: Account, query: ListingQuery, view: str, low: list, high: list,
                    span: Window) -> paging.Page:
        accept = filters.build(query.filters, prefix="metadata.")
        needs_docs = accept is not None and not filters.paths(query.filters) <= VALUE_FIELDS
        page_size = (query.page_size or self.page_size) if query.paginate else None
        start = paging.Cursor.decode(query.start_key) if query.paginate and query.start_key else None
        if start is not None and _past_window(start.key, low, span):
            return paging.Page([], start, None)
        segments = self._segments(account, view, span, low, high, needs_docs)
        if accept is None:
            check = None
        elif needs_docs:
            def check(row: JSON) -> bool:
                return accept(row["doc"])
        else:
            def check(row: JSON) -> bool:
                return accept({"metadata": row["value"]})
        return await paging.collect(self.store, segments, check, page_size, start)

    def _item(self, value: JSON, cutoff: int) -> JSON:
        if retention.is_prior(value.get("timestamp"), cutoff):
            return retention.enforce(value)
        return value

    async def box(self, account: Account, box_id: str, query: ListingQuery) -> tuple[paging.Page, list[JSON]]:
        """GET /vmboxes/{box}/messages: newest first, filled across months."""
        span = window(query, retention.retention_seconds(self.retention_days))
        page = await self._page(account, query, "listing_by_mailbox", [box_id, span.start], [box_id, span.end], span)
        cutoff = retention.cutoff(self.retention_days)
        return page, [self._item(row["value"], cutoff) for row in page.rows]

    async def account(self, account: Account, query: ListingQuery) -> tuple[paging.Page, list[JSON]]:
        """GET /vmboxes/messages: every box's messages, each item `{"<box id>": {...}}`."""
        span = window(query, retention.retention_seconds(self.retention_days))
        page = await self._page(account, query, "listing_by_timestamp", [span.start], [span.end, {}], span)
        cutoff = retention.cutoff(self.retention_days)
        return page, [{row["key"][1]: self._item(row["value"], cutoff)} for row in page.rows]

    async def box_rows(self, account: Account, box_id: str) -> list[JSON]:
        """Every listed (not soft-deleted) message of the box in the retention window, as view rows."""
        page, _ = await self.box(account, box_id, EVERYTHING)
        return page.rows

    async def folder_counts(self, account: Account) -> dict[str, dict[str, int]]:
        """Per box, the number of new, saved and deleted (not soft-deleted) messages in the retention window:
        one grouped query per month, whatever the number of boxes or messages."""
        span = window(EVERYTHING, retention.retention_seconds(self.retention_days))
        results = await asyncio.gather(*(self._month_counts(account, year, month, span.start)
                                         for year, month in span.months()))
        counts: defaultdict[str, dict[str, int]] = defaultdict(lambda: {NEW: 0, SAVED: 0, DELETED: 0})
        for rows in results:
            for box_id, folder, count in rows:
                if folder in (NEW, SAVED, DELETED):
                    counts[box_id][folder] += count
        return dict(counts)

    async def _month_counts(self, account: Account, year: int, month: int, start: int) -> list[tuple[str, str, int]]:
        db = modb(account.id, year, month)
        first_second = month_start(year, month)
        if first_second >= start:
            rows = await self.store.rows(db, MODB, "kazoo_vm_messages", "box_folder_counts", group_level=2)
            return [(row["key"][0], row["key"][1], row["value"]) for row in rows]
        rows = await self.store.rows(db, MODB, "kazoo_vm_messages", "timestamp_box_folder_counts", group_level=3,
                                     startkey=[start], endkey=[{}])
        return [(row["key"][1], row["key"][2], row["value"]) for row in rows]

