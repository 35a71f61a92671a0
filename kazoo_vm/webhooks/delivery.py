"""One delivery attempt (webhooks_util:fire_hook/do_fire): the payload with `custom_data` merged over it,
sent as a query string (get), form data or JSON (post/put), with `X-Hook-ID`, `X-Account-ID`,
`X-Kazoo-VM-Event-ID` and, when the hook has a secret, a signature. Success is any 2xx; a connection error,
a timeout or a 5xx may be tried again; anything else is a failure that another try would not change."""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from ..events.records import Event
from . import receivers, signing
from .hooks import SECRET

JSON = dict[str, Any]
MAX_LOGGED_BODY = 4096
EVENT_ID_HEADER = "X-Kazoo-VM-Event-ID"


@dataclass
class Outcome:
    success: bool
    retry: bool
    reason: str
    request: JSON
    response: JSON = field(default_factory=dict)


def querystring(value: JSON) -> str:
    """kz_http_util:json_to_querystring: nested objects `key[sub]=v`, lists `key[]=v`, values URL-encoded."""
    pairs: list[str] = []

    def walk(prefix: str, item: Any) -> None:
        if isinstance(item, dict):
            for key, sub in item.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), sub)
        elif isinstance(item, list):
            for sub in item:
                walk(f"{prefix}[]", sub)
        else:
            text = "true" if item is True else "false" if item is False else "" if item is None else str(item)
            pairs.append(f"{quote(prefix, safe='[]')}={quote(text, safe='')}")
    walk("", value)
    return "&".join(pairs)


def request_for(hook: JSON, event: Event, now: int | None = None) -> tuple[str, str, dict[str, str], bytes]:
    """(method, url, headers, body) of one delivery."""
    payload = {**event.payload, **(hook.get("custom_data") or {})}
    verb = (hook.get("http_verb") or "post").lower()
    headers = {"X-Hook-ID": hook["_id"], "X-Account-ID": hook.get("pvt_account_id", ""),
               EVENT_ID_HEADER: event.event_id}
    url = hook["uri"]
    if verb == "get":
        body = b""
        signed = querystring(payload).encode()
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(query=f"{parts.query}&{signed.decode()}" if parts.query else signed.decode()))
    elif hook.get("format") == "json":
        body = signed = json.dumps(payload, indent=2, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json"
    else:
        body = signed = querystring(payload).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if hook.get(SECRET):
        headers.update(signing.headers(hook[SECRET], int(now or time.time()), signed))
    return verb.upper(), url, headers, body


class PublicOnlyResolver(AbstractResolver):
    """Resolves names to public addresses only (KAZOO_VM_WEBHOOK_REFUSE_PRIVATE): checked on the very
    addresses connected to, so a name that resolves elsewhere later cannot reach the inside."""

    def __init__(self) -> None:
        self.inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        found = [item for item in await self.inner.resolve(host, port, family)
                 if not receivers.is_private(item["host"])]
        if not found:
            raise OSError(f"{host} resolves only to loopback or private addresses")
        return found

    async def close(self) -> None:
        await self.inner.close()


def session(refuse_private: bool, limit: int = 100) -> aiohttp.ClientSession:
    resolver = PublicOnlyResolver() if refuse_private else None
    connector = aiohttp.TCPConnector(limit=limit, resolver=resolver)
    return aiohttp.ClientSession(connector=connector, auto_decompress=True)


async def attempt(http: aiohttp.ClientSession, hook: JSON, event: Event, timeout: float,
                  refuse_private: bool) -> Outcome:
    method, url, headers, body = request_for(hook, event)
    logged = {"uri": url, "method": method.lower(), "req_headers": headers,
              "req_body": body[:MAX_LOGGED_BODY].decode(errors="replace")}
    if refuse_private and receivers.literal_private(url):
        return Outcome(False, False, "receiver on a loopback or private address refused", logged,
                       {"client_error": "refused address"})
    try:
        async with http.request(method, url, headers=headers, data=body or None, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text = (await resp.content.read(MAX_LOGGED_BODY)).decode(errors="replace")
            response = {"resp_status_code": str(resp.status), "resp_headers": dict(resp.headers), "resp_body": text}
            if 200 <= resp.status < 300:
                return Outcome(True, False, "success", logged, response)
            return Outcome(False, resp.status >= 500, "bad response code", logged, response)
    except TimeoutError:
        return Outcome(False, True, "timeout", logged, {"client_error": f"no answer within {timeout:g} s"})
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Outcome(False, True, "kazoo http client error", logged, {"client_error": type(exc).__name__})
