"""What callers ask of the domain, already parsed: a listing query and a change to messages. The HTTP layer
builds them from requests (http/inputs.py); the domain and the CLI build them directly."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Filter:
    """One of Crossbar's query-string filters (crossbar_filter.erl, docs/kazoo-behaviour.md §5.4).
    kind: `equals` / `not_equals` (`filter_<path>` / `filter_not_<path>`, `values` are the accepted texts),
    `has_key`, `key_missing`, `has_value`, `value_missing`."""
    kind: str
    path: str
    values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ListingQuery:
    """A listing's paging, filters and time window. `page_size` None is the service's default page size;
    `paginate` False lists everything. `created_from`/`created_to` are Gregorian seconds (None: the default
    window)."""
    paginate: bool = True
    page_size: int | None = None
    start_key: str | None = None
    filters: tuple[Filter, ...] = ()
    created_from: int | None = None
    created_to: int | None = None
    descending: bool = True


EVERYTHING = ListingQuery(paginate=False)


@dataclass(frozen=True)
class MessageChange:
    """A POST on one message or many: a folder change, or with `targets` a move (one box id) or a copy
    (a tuple of box ids). `folder` is the value as given (None: not given); folders.chosen() reads it."""
    folder: Any = None
    targets: str | tuple[str, ...] | None = None
