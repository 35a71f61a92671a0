"""Crossbar's query-string filters (`crossbar_filter.erl`), evaluated against a whole document."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from .inputs import Filter

Predicate = Callable[[dict[str, Any]], bool]
_ABSENT = object()
_EMPTY = (None, "", [], {})


def _get(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return _ABSENT
        doc = doc[part]
    return doc


def text(value: Any) -> str:
    """A value as a filter compares it: JSON for objects and lists, `true`/`false` for booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _check(check: Filter, doc: dict[str, Any], prefix: str) -> bool:
    value = _get(doc, prefix + check.path)
    if check.kind == "equals":
        return value is not _ABSENT and text(value) in check.values
    if check.kind == "not_equals":
        return not (value is not _ABSENT and text(value) in check.values)
    if check.kind == "has_key":
        return value is not _ABSENT
    if check.kind == "key_missing":
        return value is _ABSENT
    if check.kind == "has_value":
        return value is not _ABSENT and value not in _EMPTY
    return value is _ABSENT or value in _EMPTY  # value_missing


def build(checks: tuple[Filter, ...], prefix: str = "") -> Predicate | None:
    """A predicate for every filter; None when there is none. `prefix` is put before every path
    (messages filter on `metadata.`)."""
    if not checks:
        return None
    return lambda doc: all(_check(check, doc, prefix) for check in checks)


def paths(checks: Iterable[Filter]) -> set[str]:
    """The document paths the filters look at."""
    return {check.path for check in checks}
