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
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Invalid({"json": {"invalid": {"message": f"invalid JSON: {_reason(exc)}", "target": "body"}}},
                      message="invalid json") from None
    if not isinstance(body, dict):
        raise Invalid({"json": {"invalid": {"message": "the body must be a JSON object", "target": "body"}}},
                      message="invalid json")
    return body


def _reason(exc: Exception) -> str:
    return exc.msg if isinstance(exc, json.JSONDecodeError) else "too deeply nested"


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
