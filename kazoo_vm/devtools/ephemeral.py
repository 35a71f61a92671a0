"""A throwaway kazoo-vm for integration tests: the API on a free port, over an in-memory local CouchDB
(unless KAZOO_VM_COUCHDB_URL names one), with accounts that are deleted again. Used by
`kazoo-vm serve --ephemeral` and by the pytest plugin `kazoo_vm.testing`."""
from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

from aiohttp import web

from .. import event_loop
from ..config import Settings
from ..http.app import make_app
from ..http.tokens import issue
from ..storage import JSON, StorageError
from ..voicemail.service import Voicemail
from . import cleanup, fixtures
from .fixtures import Fixtures
from .local_couch import LocalCouch

log = logging.getLogger("kazoo_vm.ephemeral")


@contextmanager
def couchdb(settings: Settings) -> Iterator[Settings]:
    """`settings` as given when KAZOO_VM_COUCHDB_URL is set; otherwise with the URL of an in-memory
    PouchDB Server started here and stopped (its process gone) when the block ends."""
    if settings.couchdb_url_given:
        yield settings
        return
    couch = LocalCouch()
    try:
        couch.start()
        log.info("in-memory local CouchDB (PouchDB Server) on %s", couch.url)
        yield replace(settings, couchdb_url=couch.url)
    finally:
        couch.stop()


@dataclass(frozen=True)
class Credentials:
    """What a client needs to use an account: its id, its API key and a token for it."""
    account_id: str
    api_key: str
    auth_token: str
    realm: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


def listen_socket(host: str, port: int) -> socket.socket:
    """One listening socket (port 0: the system picks a free one, the same on every address)."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return socket.create_server(address[:2], family=family)


def public_url(sock: socket.socket) -> str:
    """The URL a client on this machine uses for a listening socket (a wildcard address -> loopback)."""
    host, port = sock.getsockname()[:2]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Ephemeral:
    """The API served on this process's event loop, with the Voicemail it uses for accounts."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.voicemail = Voicemail(settings)
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.accounts: list[str] = []

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the API (design documents installed first); returns its URL once it answers."""
        self.runner = web.AppRunner(make_app(self.settings, self.voicemail), access_log=None)
        await self.runner.setup()
        sock = listen_socket(host, port)
        await web.SockSite(self.runner, sock).start()
        self.url = public_url(sock)
        log.info("serving on %s (%s event loop)", self.url, event_loop.running())
        return self.url

    async def create_account(self, name: str = "Ephemeral", parent_id: str | None = None) -> Credentials:
        account, api_key = await self.voicemail.accounts.create(name, None, parent_id)
        self.accounts.append(account.id)
        token = issue(self.settings.secret, account.id, self.settings.token_ttl)
        return Credentials(account.id, api_key, token, account.realm)

    async def delete_account(self, account_id: str) -> None:
        """Delete an account made here, with every database this process created for it."""
        await delete_account(self.voicemail, account_id)
        if account_id in self.accounts:
            self.accounts.remove(account_id)

    async def load_fixtures(self, found: Fixtures, account_id: str) -> JSON:
        """Load read fixtures into an account; the ids made, by file name (see devtools/fixtures.py)."""
        account = await self.voicemail.accounts.get(account_id)
        return (await fixtures.load(self.voicemail, found, account)).as_json()

    async def stop(self) -> None:
        """Delete the accounts made here (they outlive nothing, even on a shared CouchDB), then stop serving."""
        for account_id in reversed(self.accounts):
            try:
                await self.delete_account(account_id)
            except StorageError as error:
                log.warning("could not delete account %s: %s", account_id, error)
        if self.runner is not None:
            await self.runner.cleanup()  # closes the Voicemail too
            self.runner = None
        else:
            await self.voicemail.close()



async def delete_account(voicemail: Voicemail, account_id: str) -> None:
    """Remove an account with every database stored for it, and its entry in `accounts`."""
    await cleanup.delete_account(voicemail.store.client, account_id)
