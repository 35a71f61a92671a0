"""`GET /v2/health`, without auth: whether the service can reach CouchDB."""
from __future__ import annotations

from aiohttp import web

from ..storage import StorageError
from . import envelope
from .context import voicemail
from .openapi import describe, ref
from .webhooks import WEBHOOKS

routes = web.RouteTableDef()


@routes.get("/v2/health")
@describe("Whether the service reaches CouchDB, and how its event pipeline is doing", data=ref("Health"), answers={503: "Unhealthy"}, auth=False,
          storage=False)
async def health(request: web.Request) -> web.Response:
    try:
        await voicemail(request).couch.request("GET", "")
    except StorageError:
        return envelope.success(request, {"status": "down", "couchdb": "unreachable",
                                          "events": request.app[WEBHOOKS].status()}, status=503)
    return envelope.success(request, {"status": "up", "couchdb": "up", "events": request.app[WEBHOOKS].status()})
