"""`PUT /v2/api_auth`: an account's API key for a signed, expiring token."""
from __future__ import annotations

from aiohttp import web

from ..voicemail.errors import Invalid, InvalidCredentials
from . import bodies, envelope, tokens
from .context import AUTH_TOKEN, settings, voicemail
from .openapi import Body, describe, ref

MAX_API_KEY = 256
@describe("A token for an account's API key (in the envelope's `auth_token`)", data=ref("Session"), status=201,
          body=Body("json", "ApiKey"), errors=(401,), auth=False)
async def api_auth(request: web.Request) -> web.Response:
    data = await bodies.read_data(request, settings(request).max_body_bytes)
    api_key = data.get("api_key")
    if not isinstance(api_key, str) or not api_key:
        raise Invalid({"api_key": {"required": {"message": "Field is required but missing"}}})
    if len(api_key) > MAX_API_KEY:  # no key is that long: refused without asking CouchDB
        raise InvalidCredentials()
    account = await voicemail(request).accounts.by_api_key(api_key)
    token = tokens.issue(settings(request).secret, account.id, settings(request).token_ttl)
    request[AUTH_TOKEN] = token
    return envelope.success(request, {"account_id": account.id, "account_name": account.name,
                                      "realm": account.realm}, status=201)
