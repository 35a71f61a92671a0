"""Reading request bodies: size limits, JSON, the `{"data": ...}` envelope."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..voicemail.errors import Invalid, VoicemailError


class TooLarge(VoicemailError):
    code = "request_entity_too_large"
    message = "request_entity_too_large"


class UnsupportedMediaType(VoicemailError):
    code = "unsupported_media_type"
    message = "unsupported_media_type"


def check_length(request: web.Request, limit: int) -> None:
    """413 from the Content-Length header alone, before anything is read."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge({"message": f"the request body is larger than {limit} bytes", "target": limit})


async def read_json(request: web.Request, limit: int) -> dict[str, Any]:
    """The whole request JSON; {} when there is no body."""
    check_length(request, limit)
    raw = bytearray()
    async for chunk in request.content.iter_chunked(65536):
        raw.extend(chunk)
        if len(raw) > limit:
            raise TooLarge({"message": f"the request body is larger than {limit} bytes", "target": limit})
    if not raw.strip():
        return {}
    body = loads(raw)
    if not isinstance(body, dict):
        raise Invalid({"json": {"invalid": {"message": "the body must be a JSON object", "target": "body"}}},
                      message="invalid json")
    return body


MAX_DEPTH = 64


def loads(raw: bytes | bytearray | str) -> Any:
    """Strict JSON: no NaN or Infinity (nor numbers too large for a float), which neither CouchDB nor a
    browser's JSON.parse takes, and at most MAX_DEPTH levels of nesting, which no Kazoo document needs and
    which every recursive step after parsing (validation, copies, CouchDB) would otherwise have to survive."""
    try:
        value = json.loads(raw, parse_constant=_not_a_number, parse_float=_finite)
        _check_nesting_and_text(value)
        return value
    except (ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        raise Invalid({"json": {"invalid": {"message": f"invalid JSON: {_reason(exc)}", "target": "body"}}},
                      message="invalid json") from None


def _not_a_number(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def _check_nesting_and_text(value: Any) -> None:
    """At most MAX_DEPTH levels, and only text that is valid Unicode (a lone surrogate such as "\\ud800"
    parses, but cannot be stored)."""
    level = [value]
    for _ in range(MAX_DEPTH):
        for item in level:
            for text in ([item] if isinstance(item, str) else item.keys() if isinstance(item, dict) else ()):
                text.encode()
        level = [item for container in level if isinstance(container, (dict, list))
                 for item in (container.values() if isinstance(container, dict) else container)]
        if not level:
            return
    if any(isinstance(item, (dict, list)) for item in level):
        raise RecursionError()


def _reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return f"nested more than {MAX_DEPTH} levels deep"
    if isinstance(exc, UnicodeEncodeError):
        return "a string holds a lone UTF-16 surrogate"
    return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    """The `data` object of a request body; {} when there is none."""
    data = body.get("data", {})
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise Invalid({"data": {"type": {"message": "Value did not match type(s): object", "target": "object"}}})
    return data


async def read_data(request: web.Request, limit: int) -> dict[str, Any]:
    return data_of(await read_json(request, limit))


def is_json_type(content_type: str) -> bool:
    return content_type in ("", "application/json", "application/x-json", "text/json")
