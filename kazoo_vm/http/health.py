"""`GET /v2/health`, without auth: whether the service can reach CouchDB."""
from __future__ import annotations

from aiohttp import web

from . import envelope
from .context import voicemail
from .openapi import describe, ref

@describe("Whether the service reaches CouchDB", data=ref("Health"), answers={503: "Unhealthy"}, auth=False,
          storage=False)
async def health(request: web.Request) -> web.Response:
    if not await voicemail(request).reachable():
        return envelope.success(request, {"status": "down", "couchdb": "unreachable"}, status=503)
    return envelope.success(request, {"status": "up", "couchdb": "up"})
