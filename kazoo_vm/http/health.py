"""`GET /v2/health`, without auth: whether the service can reach CouchDB, how its event pipeline is doing, and
whether it sends new voicemail by email."""
from __future__ import annotations

from aiohttp import web

from . import envelope
from .context import NOTIFICATIONS, voicemail
from .openapi import describe, ref
from .webhooks import WEBHOOKS

@describe("Whether the service reaches CouchDB, how its event pipeline is doing, and whether email is on", data=ref("Health"),
          answers={503: "Unhealthy"}, auth=False, storage=False)
async def health(request: web.Request) -> web.Response:
    events = request.app[WEBHOOKS].status()
    email = request.app[NOTIFICATIONS].status()
    if not await voicemail(request).reachable():
        return envelope.success(request, {"status": "down", "couchdb": "unreachable", "events": events,
                                          "email": email}, status=503)
    return envelope.success(request, {"status": "up", "couchdb": "up", "events": events, "email": email})
