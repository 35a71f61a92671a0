"""Requests turned into the domain's inputs (voicemail/inputs.py): one parser for each query parameter, and
the message ids, target boxes and folder of a request on messages."""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..voicemail.errors import FaultyRequest, field_error
from ..voicemail.filters import text
from ..voicemail.inputs import Filter, ListingQuery, MessageChange
from ..voicemail.paging import MAX_PAGE_SIZE

Query = Mapping[str, str]
KEY_FILTERS = ("has_key", "key_missing", "has_value", "value_missing")


def paginate(query: Query) -> bool:
    """`paginate=false` lists everything; anything else pages."""
    return query.get("paginate", "true") != "false"


def page_size(query: Query, *, strict: bool) -> int | None:
    """`page_size`; None for the default. Kazoo's rules: account listings fall back to the default, message
    listings refuse bad sizes. A size above MAX_PAGE_SIZE is served MAX_PAGE_SIZE at a time."""
    raw = query.get("page_size")
    if raw is None:
        return None
    try:
        size = int(raw)
    except ValueError:
        if strict:
            raise FaultyRequest("invalid page size") from None
        return None
    if size < 1:
        if strict:
            raise FaultyRequest("page size must be at least 1")
        return None
    return min(size, MAX_PAGE_SIZE)


def seconds(query: Query, name: str) -> int | None:
    """`created_from` / `created_to`: a positive whole number of Gregorian seconds, else None (the default)."""
    try:
        value = int(query[name]) if name in query else None
    except ValueError:
        return None
    return value if value and value > 0 else None


def descending(query: Query) -> bool:
    """crossbar_view:direction/2: ascending only when asked for and `descending` is not true."""
    ascending = query.get("ascending")
    return not (ascending is not None and ascending != "false" and query.get("descending") != "true")


def _accepted(raw: str) -> frozenset[str]:
    """A filter value; a JSON list means "any of these"."""
    if raw.startswith("["):
        try:
            values = json.loads(raw)
        except ValueError:
            return frozenset({raw})
        if isinstance(values, list):
            return frozenset(text(value) for value in values)
    return frozenset({raw})


def filters(query: Query) -> tuple[Filter, ...]:
    """Every `filter_*`, `filter_not_*`, `has_key`... parameter, in the order given."""
    found = []
    for name, raw in query.items():
        if name.startswith("filter_not_"):
            found.append(Filter("not_equals", name[len("filter_not_"):], _accepted(raw)))
        elif name.startswith("filter_"):
            found.append(Filter("equals", name[len("filter_"):], _accepted(raw)))
        elif name in KEY_FILTERS:
            found.append(Filter(name, raw))
    return tuple(found)


def listing_query(query: Query, *, strict_page_size: bool) -> ListingQuery:
    paged = paginate(query)
    return ListingQuery(paginate=paged, page_size=page_size(query, strict=strict_page_size) if paged else None,
                        start_key=query.get("start_key"), filters=filters(query),
                        created_from=seconds(query, "created_from"), created_to=seconds(query, "created_to"),
                        descending=descending(query))


def given_folder(data: Mapping[str, Any], query: Query, body: Mapping[str, Any]) -> Any:
    """The folder a request gives: the first of its `data`, its query string and its whole JSON body, where
    Kazoo looks; None when none does."""
    return next((source["folder"] for source in (data, query, body) if source.get("folder") is not None), None)


def message_ids(data: Mapping[str, Any], limit: int, *, required: bool = True) -> list[str] | None:
    """`messages`: a list of ids, at most `limit`, duplicates dropped; None when absent and not required."""
    ids = data.get("messages")
    if ids is None and not required:
        return None
    if not isinstance(ids, list) or (required and not ids):
        raise field_error("messages", "required", "No array of message ids are specified")
    if not all(isinstance(message_id, str) for message_id in ids):
        raise field_error("messages", "type", "message ids must be strings")
    if len(ids) > limit:
        raise field_error("messages", "maxItems", f"at most {limit} message ids per request", target=limit)
    return list(dict.fromkeys(ids))


def targets(data: Mapping[str, Any]) -> str | tuple[str, ...] | None:
    """`source_id`: absent -> None, a box id -> move, a list of box ids -> copy."""
    if "source_id" not in data:
        return None
    value = data["source_id"]
    if value in ("", []) or (isinstance(value, list) and "" in value):
        raise field_error("source_id", "required",
                          "empty source_id is specified. please set a single or a list of source_ids.")
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise field_error("source_id", "type", "source_id must be a box id or a list of box ids")


def message_change(data: Mapping[str, Any], query: Query, body: Mapping[str, Any]) -> MessageChange:
    return MessageChange(folder=given_folder(data, query, body), targets=targets(data))
