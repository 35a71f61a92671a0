"""Pages over one or more view ranges (one per database), filled with filtered rows, with opaque
start keys that resume exactly where a page ended.

A cursor is (segment, key, n): the next row is the (n+1)-th row whose key is `key` in that segment.
PouchDB Server ignores `startkey_docid`, so rows sharing a key are skipped by count instead.
A page's next cursor points just after its last row, not at the row that follows it, so that rows
written between two requests right after the page's end are not skipped.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..storage.store import Store
from .errors import Invalid
from .values import JSON

SCAN_ROWS = 200  # rows asked for at a time when a filter may drop some
# Apache CouchDB refuses a view `limit` above 268435456; a page is never larger than this, and a larger
# page_size is served as pages of this size with next_start_key, as any client that pages expects.
MAX_PAGE_SIZE = 1000


@dataclass
class Segment:
    name: str
    db: str
    classification: str
    design: str
    view: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cursor:
    segment: str
    key: Any
    skip: int = 0

    def after(self) -> "Cursor":
        """The position just past the row this cursor points at."""
        return Cursor(self.segment, self.key, self.skip + 1)

    def encode(self) -> str:
        raw = json.dumps([self.segment, self.key, self.skip], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, default_segment: str | None = None) -> "Cursor":
        """An opaque start key; a plain key (not one we made) is taken as a view key, as Kazoo does."""
        try:
            padded = token + "=" * (-len(token) % 4)
            segment, key, skip = json.loads(base64.urlsafe_b64decode(padded.encode()), parse_constant=_refuse)
            if isinstance(segment, str) and isinstance(skip, int) and 0 <= skip <= SAFE_INTEGER and _safe(key):
                return cls(segment, key, skip)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
            pass
        if default_segment is None:
            raise Invalid({"start_key": {"invalid": {"message": "start_key is not one this service gave out"}}})
        return cls(default_segment, token, 0)


SAFE_INTEGER = 2 ** 53  # what every CouchDB (and JavaScript) reads back as the same number
MAX_KEY_DEPTH = 8


def _refuse(name: str) -> None:
    raise ValueError(name)


def _safe(key: Any, depth: int = 0) -> bool:
    """A key CouchDB can be asked for as it is: plain JSON, numbers it keeps exactly, shallow."""
    if isinstance(key, bool) or key is None or isinstance(key, str):
        return True
    if isinstance(key, (int, float)):
        return abs(key) <= SAFE_INTEGER
    if isinstance(key, list) and depth < MAX_KEY_DEPTH:
        return all(_safe(item, depth + 1) for item in key)
    if isinstance(key, dict) and depth < MAX_KEY_DEPTH:
        return all(_safe(item, depth + 1) for item in key.values())
    return False


@dataclass
class Page:
    rows: list[JSON]
    start: Cursor | None
    next: Cursor | None


async def collect(store: Store, segments: list[Segment], accept: Callable[[JSON], bool] | None,
                  page_size: int | None, start: Cursor | None) -> Page:
    """Rows from the segments in order, kept when `accept` says so, up to page_size (None = all).
    The page's start is `start`, or on a first page the beginning of the first segment."""
    rows: list[JSON] = []
    want = None if page_size is None else page_size + 1
    started = start is None
    last: Cursor | None = None
    for segment in segments:
        if not started:
            if segment.name != start.segment:
                continue
            started = True
            position: tuple[Any, int] | None = (start.key, start.skip)
        else:
            position = None
        wanted = want and want - len(rows)
        chunk = wanted if accept is None else wanted and max(wanted, SCAN_ROWS)
        async for row, cursor in _scan(store, segment, position, chunk):
            if accept is None or accept(row):
                rows.append(row)
                if want is not None and len(rows) == want:
                    return Page(rows[:page_size], start or beginning(segments), last and last.after())
                last = cursor
    return Page(rows, start or beginning(segments), None)


def beginning(segments: list[Segment]) -> Cursor | None:
    """Where a listing without a start key starts: the first segment's own start key (Crossbar's start_key of a
    first page). Given back as a start key, it lists the same rows as no start key."""
    if not segments:
        return None
    return Cursor(segments[0].name, segments[0].params.get("startkey"), 0)


async def _scan(store: Store, segment: Segment, position: tuple[Any, int] | None, chunk_size: int | None):
    """Yield (row, cursor-of-row) from one segment, starting at position, fetching chunk_size rows at a time
    (all at once when None). Unfiltered pages ask for exactly the rows they need; filtered ones more."""
    params = dict(segment.params)
    key, skip = position if position is not None else (params.get("startkey"), 0)
    if position is not None:
        params["startkey"] = key
    seen_same_key = skip
    while True:
        query = dict(params, skip=skip or None, limit=chunk_size)
        chunk = await store.rows(segment.db, segment.classification, segment.design, segment.view, **query)
        for row in chunk:
            if row["key"] == key:
                seen_same_key += 1
            else:
                key, seen_same_key = row["key"], 1
            yield row, Cursor(segment.name, key, seen_same_key - 1)
        if chunk_size is None or len(chunk) < chunk_size:
            return
        params["startkey"], skip = key, seen_same_key
