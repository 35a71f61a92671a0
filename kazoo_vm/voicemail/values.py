"""Helpers on JSON values, used across the domain."""
from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

JSON = dict[str, Any]


def is_whole_number(value: Any) -> bool:
    """An int that is not a bool (JSON's true is an int to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def alphanum(name: Any) -> str:
    """Kazoo's `pvt_alphanum_name`: lowercase letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def deep_merge(base: JSON, update: Mapping[str, Any]) -> JSON:
    """`update` merged into a copy of `base`, objects key by key (a PATCH)."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
