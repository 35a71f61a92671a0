"""The aiohttp application: request ids and the request log, Crossbar errors for everything that fails,
CORS, and token auth for every `/v2/accounts/{account_id}/...` route."""
from __future__ import annotations

import logging
import re
import secrets
import time

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from ..config import Settings
from ..storage import Conflict, StorageError, Unavailable
from ..voicemail.errors import InvalidCredentials, VoicemailError
from ..voicemail.service import Voicemail
from ..notifications.service import Notifications
from ..webhooks.service import Webhooks
from . import envelope, openapi, tokens, webhooks
from .context import AUTH_ACCOUNT_ID, AUTH_TOKEN, AUTHORIZED_ACCOUNT, NOTIFICATIONS, REQUEST_ID, SETTINGS, VOICEMAIL
from .routes import ROUTES

log = logging.getLogger("kazoo_vm.http")
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, PATCH, OPTIONS, HEAD",
    "Access-Control-Allow-Headers": "Content-Type, Depth, User-Agent, X-Http-Method-Override, X-File-Size, "
                                    "X-Requested-With, If-Modified-Since, X-File-Name, Cache-Control, "
                                    "X-Auth-Token, If-Match, Range, X-Kazoo-Cluster-ID",
    "Access-Control-Expose-Headers": "Content-Type, X-Request-ID, Location, Etag, ETag, Warning, "
                                     "Content-Range, Accept-Ranges, Content-Disposition",
    "Access-Control-Max-Age": "86400",
}


@web.middleware
async def request_log(request: web.Request, handler) -> web.StreamResponse:
    given = request.headers.get("X-Request-ID", "")
    request[REQUEST_ID] = given if SAFE_REQUEST_ID.match(given) else secrets.token_hex(16)
    started = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        log.info("%s %s %s %.1fms %s", request.method, request.path, status,
                 (time.monotonic() - started) * 1000, request[REQUEST_ID])


@web.middleware
async def crossbar_errors(request: web.Request, handler) -> web.StreamResponse:
    """Every failure becomes a Crossbar error in JSON; headers common to all answers are added here."""
    try:
        response = await handler(request)
    except VoicemailError as failure:
        response = envelope.error(request, failure.code, failure.message, failure.data)
    except Unavailable as failure:
        log.warning("CouchDB unavailable: %s (request %s)", failure, request[REQUEST_ID])
        response = envelope.error(request, "datastore_fault", "datastore_fault",
                                  {"message": "the database is not available; try again shortly"})
    except Conflict:
        response = envelope.error(request, "datastore_conflict", "datastore_conflict",
                                  {"message": "the document kept changing while it was being saved; try again"})
    except StorageError as failure:
        log.error("storage error: %s (request %s)", failure, request[REQUEST_ID])
        response = envelope.error(request, "datastore_fault", "datastore_fault",
                                  {"message": "the database refused the request"}, status=500)
    except web.HTTPRequestEntityTooLarge:
        response = envelope.error(request, "request_entity_too_large", "request_entity_too_large",
                                  {"message": "the request body is too large"})
    except (RequestPayloadError, HttpProcessingError) as failure:
        reason = getattr(failure.__cause__, "message", None) or getattr(failure, "message", None) or str(failure)
        response = envelope.error(request, "invalid_data", "invalid request body", {"body": {"invalid": {
            "message": f"the request body cannot be read: {reason}"[:200], "target": "body"}}})
    except web.HTTPMethodNotAllowed as failure:
        response = envelope.error(request, "invalid_method", "invalid_method", {"message": "method not allowed"},
                                  headers={"Allow": ", ".join(sorted(failure.allowed_methods))})
    except web.HTTPNotFound:
        response = envelope.error(request, "not_found", "not_found", {"message": "not found"})
    except web.HTTPException as failure:
        response = envelope.error(request, "http_error", failure.reason.lower().replace(" ", "_"),
                                  {"message": failure.reason}, status=failure.status)
    except Exception:  # noqa: BLE001 - a bug must still answer in Crossbar's shape, and be logged
        log.exception("unexpected failure (request %s)", request[REQUEST_ID])
        response = envelope.error(request, "unspecified_fault", "unspecified_fault",
                                  {"message": "an unexpected error occurred"})
    return response


async def common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The request id and CORS headers on every answer, streamed audio included."""
    if REQUEST_ID in request:
        response.headers["X-Request-ID"] = request[REQUEST_ID]
    for name, value in CORS_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def cors_preflight(request: web.Request, handler) -> web.StreamResponse:
    if request.method == "OPTIONS":
        return web.Response(status=200, headers=CORS_HEADERS)
    return await handler(request)


@web.middleware
async def account_auth(request: web.Request, handler) -> web.StreamResponse:
    """Resolve `{account_id}` for the routes that have one: a valid token that reaches that account."""
    account_id = request.match_info.get("account_id")
    if account_id is None or request.match_info.http_exception is not None:
        return await handler(request)
    token = request.headers.get("X-Auth-Token") or request.query.get("auth_token") or ""
    token_account = tokens.verify(request.app[SETTINGS].secret, token) if token else None
    if token_account is None:
        raise InvalidCredentials()
    request[AUTH_TOKEN] = token  # echoed in the envelope, as Crossbar does; never logged
    request[AUTH_ACCOUNT_ID] = token_account
    request[AUTHORIZED_ACCOUNT] = await request.app[VOICEMAIL].accounts.authorize(token_account, account_id)
    return await handler(request)


def make_app(settings: Settings, voicemail: Voicemail | None = None) -> web.Application:
    app = web.Application(middlewares=[request_log, crossbar_errors, cors_preflight, account_auth],
                          client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app.on_response_prepare.append(common_headers)
    app[VOICEMAIL] = voicemail or Voicemail(settings)
    app[openapi.DOCUMENT] = {}
    app[NOTIFICATIONS] = Notifications(settings, app[VOICEMAIL])
    app[webhooks.WEBHOOKS] = Webhooks(settings, app[VOICEMAIL].store, lifecycle=app[VOICEMAIL].lifecycle,
                                      also=app[NOTIFICATIONS])
    app.router.add_routes(ROUTES)

    async def open_and_close(app: web.Application):
        try:
            await app[VOICEMAIL].start()
            await app[webhooks.WEBHOOKS].start()
            await app[NOTIFICATIONS].start()
        except Unavailable as failure:
            log.warning("CouchDB not reachable at start (%s); design documents will be installed on first use",
                        failure)
        yield
        await app[NOTIFICATIONS].close()
        await app[webhooks.WEBHOOKS].close()
        await app[VOICEMAIL].close()

    app.cleanup_ctx.append(open_and_close)
    return app
