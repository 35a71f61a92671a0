"""Crossbar's query-string filters (`crossbar_filter.erl`), evaluated against a whole document."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]
_ABSENT = object()
PREFIXES = ("filter_not_", "filter_")
KEY_FILTERS = ("has_key", "key_missing", "has_value", "value_missing")


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return _ABSENT
        doc = doc[part]
    return doc


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _wanted(raw: str) -> set[str]:
    """A filter value; a JSON list means "any of these"."""
    if raw.startswith("["):
        try:
            values = json.loads(raw)
        except ValueError:
            return {raw}
        if isinstance(values, list):
            return {_text(value) for value in values}
    return {raw}


def _matches(doc: dict[str, Any], path: str, wanted: set[str]) -> bool:
    value = _get(doc, path)
    return value is not _ABSENT and _text(value) in wanted


def build(query: Mapping[str, str], prefix: str = "") -> Predicate | None:
    """A predicate for every `filter_*`, `filter_not_*`, `has_key`... parameter; None when there is none.
    `prefix` is put before every path (messages filter on `metadata.`)."""
    checks: list[Predicate] = []
    for name, raw in query.items():
        if name.startswith("filter_not_"):
            path, wanted = prefix + name[len("filter_not_"):], _wanted(raw)
            checks.append(lambda doc, p=path, w=wanted: not _matches(doc, p, w))
        elif name.startswith("filter_"):
            path, wanted = prefix + name[len("filter_"):], _wanted(raw)
            checks.append(lambda doc, p=path, w=wanted: _matches(doc, p, w))
        elif name == "has_key":
            checks.append(lambda doc, p=prefix + raw: _get(doc, p) is not _ABSENT)
        elif name == "key_missing":
            checks.append(lambda doc, p=prefix + raw: _get(doc, p) is _ABSENT)
        elif name == "has_value":
            checks.append(lambda doc, p=prefix + raw: _get(doc, p) not in (_ABSENT, None, "", [], {}))
        elif name == "value_missing":
            checks.append(lambda doc, p=prefix + raw: _get(doc, p) in (_ABSENT, None, "", [], {}))
    if not checks:
        return None
    return lambda doc: all(check(doc) for check in checks)


def paths(query: Mapping[str, str]) -> set[str]:
    """The document paths the filters of a query look at."""
    out = set()
    for name, raw in query.items():
        for filter_prefix in PREFIXES:
            if name.startswith(filter_prefix):
                out.add(name[len(filter_prefix):])
                break
        else:
            if name in KEY_FILTERS:
                out.add(raw)
    return out
