"""`python -m bench.relay --port P`: the least a Python aiohttp service in front of CouchDB can do, as a baseline
for the API's figures. Every request (`<method> /<path>?<query>`, and its body) is sent as it is to CouchDB
(KAZOO_VM_COUCHDB_URL, with its credentials) on one pooled aiohttp client session set up as the service's
(`storage/couch.py`: no cookie jar, `Accept-Encoding: identity`, basic auth), and CouchDB's status, body and
content type are answered as they came: no routing beyond one catch-all, no authentication, no JSON parsed or
written, no request log. It runs on the event loop the service runs on (KAZOO_VM_UVLOOP).

Measured interleaved with the API and the direct requests (scenarios message_get, listing and concurrent), its
time over the direct time, and its throughput under the concurrent mix, are the floor of any aiohttp service
that adds an HTTP hop in Python on this machine: what the API spends over it is the service's own logic."""
from __future__ import annotations

import argparse
import asyncio
import os
import signal

import aiohttp
from aiohttp import web
from yarl import URL

from kazoo_vm import event_loop
from kazoo_vm.config import Settings


STREAMED_HEADERS = ("Content-Type", "Content-Range", "Accept-Ranges")


def relay_app(couch_url: str) -> web.Application:
    parsed = URL(couch_url)
    base = str(parsed.with_user(None).with_password(None)).rstrip("/")
    headers = {"Accept-Encoding": "identity", "Accept": "application/json"}
    if parsed.user:
        headers["Authorization"] = aiohttp.encode_basic_auth(parsed.user, parsed.password or "")
    app = web.Application()

    async def start(app: web.Application) -> None:
        app["session"] = aiohttp.ClientSession(headers=headers, cookie_jar=aiohttp.DummyCookieJar(),
                                               connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=4.0))

    async def stop(app: web.Application) -> None:
        await app["session"].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        url = URL(base + request.raw_path, encoded=True)
        sent = {"data": await request.read(), "headers": {"Content-Type": request.content_type}} \
            if request.can_read_body else {"headers": {}}
        if "Range" in request.headers:
            sent["headers"]["Range"] = request.headers["Range"]
        async with app["session"].request(request.method, url, **sent) as resp:
            if resp.content_type == "application/json":
                body = await resp.read()
                return web.Response(status=resp.status, body=body, headers={"Content-Type": resp.content_type})
            return await _stream(request, resp)

    async def _stream(request: web.Request, resp: aiohttp.ClientResponse) -> web.StreamResponse:
        """An attachment, streamed as the service streams audio (`http/message.py`)."""
        response = web.StreamResponse(status=resp.status, headers={
            name: resp.headers[name] for name in STREAMED_HEADERS if name in resp.headers})
        response.content_length = resp.content_length
        await response.prepare(request)
        async for chunk in resp.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    app.router.add_route("*", "/{path:.*}", relay)
    return app


async def serve(port: int) -> None:
    runner = web.AppRunner(relay_app(os.environ["KAZOO_VM_COUCHDB_URL"]), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.relay")
    parser.add_argument("--port", type=int, required=True)
    event_loop.choose(Settings.from_env().uvloop)  # the service's loop: the floor of the same hop
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
