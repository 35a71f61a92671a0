"""Sample payloads of the hooks this service raises (`GET /v2/webhooks/samples[/{name}]`, Kazoo's
cb_webhooks samples from `webhooks_<name>-samples.json`), as this service delivers them before a hook's
`custom_data` is merged in; read from `samples.json`."""
from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from typing import Any

from ..voicemail.errors import NotFoundError

JSON = dict[str, Any]


@cache
def _samples() -> dict[str, list[JSON]]:
    return json.loads(files(__package__).joinpath("samples.json").read_text())


def names() -> list[str]:
    return sorted(_samples())


def samples(name: str, keep: Callable[[JSON], bool] | None = None) -> list[JSON]:
    """The samples of one hook (those `keep` keeps); NotFoundError for a hook without samples."""
    if name not in _samples():
        raise NotFoundError(f"no samples for hook {name}")
    return [dict(sample) for sample in _samples()[name] if keep is None or keep(sample)]
