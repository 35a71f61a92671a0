"""The hooks this service raises (`GET /v2/webhooks`), with their modifiers, as Kazoo's webhook_meta
documents describe them; read from `available_hooks.json`."""
from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

ALL = "all"
OBJECT = "object"
NOTIFICATIONS = "notifications"


@cache
def available() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(files(__package__).joinpath("available_hooks.json").read_text()))


def names() -> list[str]:
    """Hook names a hook document may carry: the available ones and Kazoo's pseudo-hook `all`."""
    return [ALL, *(hook["id"] for hook in available())]


def modifiers(hook: str) -> dict[str, Any]:
    for meta in available():
        if meta["id"] == hook:
            return meta["modifiers"]
    return {}


def object_types() -> list[str]:
    return list(modifiers(OBJECT)["type"]["items"])


def object_actions() -> list[str]:
    return list(modifiers(OBJECT)["action"]["items"])


def notification_types() -> list[str]:
    return list(modifiers(NOTIFICATIONS)["type"]["items"])
