"""Crossbar's response envelope and error envelope (docs/kazoo-behaviour.md §5.2-§5.3)."""
from __future__ import annotations

import hashlib
import socket
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from .. import __version__
from ..json_codec import dumps
from .context import AUTH_TOKEN, REQUEST_ID

CONTENT_TYPE = "application/json"
NODE = hashlib.md5(f"kazoo-vm@{socket.gethostname()}".encode()).hexdigest()
VERSION = f"4.3-kazoo-vm-{__version__}"

STATUS_OF = {
    "invalid_data": 400, "json_invalid": 400, "bad_identifier": 404, "not_found": 404, "faulty_request": 404,
    "invalid_credentials": 401, "forbidden": 403, "invalid_method": 405, "datastore_conflict": 409,
    "request_entity_too_large": 413, "unsupported_media_type": 415, "range_not_satisfiable": 416,
    "datastore_fault": 503, "unspecified_fault": 500,
}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _response(request: web.Request, encoded: list[tuple[str, bytes]], status: int,
              headers: dict[str, str] | None) -> web.Response:
    """The envelope's keys, then the body's, each value already encoded: a listing is encoded once, not once
    for its revision and again for the answer."""
    base = {"auth_token": request.get(AUTH_TOKEN, ""), "request_id": request[REQUEST_ID],
            "node": NODE, "version": VERSION, "timestamp": _now()}
    members = [dumps(key) + b":" + dumps(value) for key, value in base.items()]
    members += [dumps(key) + b":" + value for key, value in encoded]
    return web.Response(body=b"{" + b",".join(members) + b"}", status=status,
                        headers={"Content-Type": CONTENT_TYPE, **(headers or {})})


def success(request: web.Request, data: Any, *, status: int = 200, revision: str | None = None,
            extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> web.Response:
    data_json = dumps(data)
    encoded = [("data", data_json), ("revision", dumps(revision or hashlib.md5(data_json).hexdigest())),
               ("status", b'"success"')]
    encoded += [(key, dumps(value)) for key, value in (extra or {}).items()]
    return _response(request, encoded, status, headers)


def error(request: web.Request, code: str, message: str, data: Any, *, status: int | None = None,
          headers: dict[str, str] | None = None) -> web.Response:
    status = status or STATUS_OF.get(code, 500)
    body = {"data": data, "error": str(status), "message": message, "status": "error"}
    return _response(request, [(key, dumps(value)) for key, value in body.items()], status, headers)
