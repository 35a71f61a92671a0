"""What handlers take from the application and the request."""
from __future__ import annotations

from aiohttp import web

from ..config import Settings
from ..notifications.service import Notifications
from ..voicemail.accounts import Account
from ..voicemail.actor import Actor
from ..voicemail.service import Voicemail

VOICEMAIL = web.AppKey("voicemail", Voicemail)
SETTINGS = web.AppKey("settings", Settings)
NOTIFICATIONS = web.AppKey("notifications", Notifications)
REQUEST_ID = web.RequestKey("request_id", str)
AUTHORIZED_ACCOUNT = web.RequestKey("account", Account)
AUTH_ACCOUNT_ID = web.RequestKey("auth_account_id", str)
AUTH_TOKEN = web.RequestKey("auth_token", str)  # the token the request authenticated with (or was issued)


def voicemail(request: web.Request) -> Voicemail:
    return request.app[VOICEMAIL]


def settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def account(request: web.Request) -> Account:
    return request[AUTHORIZED_ACCOUNT]


def actor(request: web.Request) -> Actor:
    return Actor(request_id=request[REQUEST_ID], auth_account_id=request.get(AUTH_ACCOUNT_ID))
