"""`GET /v2/health`, without auth: whether the service can reach CouchDB."""
from __future__ import annotations

from aiohttp import web

from ..storage import StorageError
from . import envelope
from .context import voicemail

routes = web.RouteTableDef()


@routes.get("/v2/health")
async def health(request: web.Request) -> web.Response:
    try:
        await voicemail(request).couch.request("GET", "")
    except StorageError:
        return envelope.success(request, {"status": "down", "couchdb": "unreachable"}, status=503)
    return envelope.success(request, {"status": "up", "couchdb": "up"})
