"""pytest fixtures for projects that test against kazoo-vm (registered as the `pytest11` plugin `kazoo_vm`).

    def test_greeting(kazoo_vm_client):
        box = kazoo_vm_client.create_box(name="Reception")
        message = kazoo_vm_client.create_message(box["id"], caller_id_number="6001")
        assert kazoo_vm_client.audio(box["id"], message["media_id"]).startswith(b"RIFF")

- `kazoo_vm_service` (session): the API, started on first use: over an in-memory PouchDB Server (or the
  CouchDB of KAZOO_VM_COUCHDB_URL), on a free port of 127.0.0.1. `.url` is its base URL.
- `kazoo_vm_account`: a fresh account for the test: `.id`, `.api_key`, `.auth_token`, `.realm`, `.url`.
  It is deleted after the test, with every database stored for it.
- `kazoo_vm_client`: a `Client` (blocking HTTP, standard library only) for that account, with helpers:
  `create_box`, `create_message` (real audio: a generated WAV, bytes, or a file), `audio`, `load_fixtures`.
- `kazoo_vm_make_account`: more accounts for one test (`parent=` for a child account); all are deleted.

The service runs in this process, on its own event loop in a background thread, so the fixtures work from
plain and from async tests whatever their event loop. Accounts are made through the very `Voicemail` object
the server uses, and removed with every database whose name is theirs (devtools/cleanup.py), so cleanup
touches nothing else even on a shared CouchDB. Nothing is started unless one of these fixtures is used.
`kazoo-vm serve --ephemeral` is the same service for harnesses in other languages.
"""
from __future__ import annotations

import asyncio
import io
import json as jsonlib
import math
import mimetypes
import secrets
import struct
import threading
import urllib.error
import urllib.request
import wave
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from ..voicemail.service import Voicemail

T = TypeVar("T")
TIMEOUT = 300.0  # seconds a call may take before the test fails instead of hanging


def wav(seconds: float = 1.0, frequency: float = 440.0, rate: int = 8000) -> bytes:
    """A valid mono 16-bit PCM WAV: a sine tone of `frequency` Hz lasting `seconds`."""
    frames = b"".join(struct.pack("<h", round(12000 * math.sin(2 * math.pi * frequency * i / rate)))
                      for i in range(round(seconds * rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return out.getvalue()


@dataclass(frozen=True)
class Account:
    id: str
    api_key: str
    auth_token: str
    realm: str
    url: str


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes

    @property
    def json(self) -> Any:
        return jsonlib.loads(self.body)

    @property
    def data(self) -> Any:
        return self.json["data"]


class Service:
    """The kazoo-vm API served on a background thread's event loop."""

    def __init__(self) -> None:
        from ..config import Settings
        from .ephemeral import Ephemeral, couchdb

        self._stack = ExitStack()
        try:
            settings = self._stack.enter_context(couchdb(Settings.from_env()))
            self._loop = asyncio.new_event_loop()
            thread = threading.Thread(target=self._loop.run_forever, name="kazoo-vm", daemon=True)
            thread.start()
            self._stack.callback(self._close_loop, thread)
            self.ephemeral = Ephemeral(settings)
            self._stack.callback(lambda: self.run(self.ephemeral.stop()))  # before the loop closes
            self.url: str = self.run(self.ephemeral.start())
        except BaseException:
            self._stack.close()
            raise

    def run(self, coroutine: Awaitable[T]) -> T:
        """Run a coroutine on the service's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(TIMEOUT)

    def _close_loop(self, thread: threading.Thread) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        thread.join(TIMEOUT)
        self._loop.close()

    @property
    def voicemail(self) -> Voicemail:
        """The service's domain layer (call its coroutines through `run`)."""
        return self.ephemeral.voicemail

    def create_account(self, name: str = "Test account", parent: Account | None = None) -> Account:
        made = self.run(self.ephemeral.create_account(name, parent.id if parent else None))
        return Account(made.account_id, made.api_key, made.auth_token, made.realm, self.url)

    def delete_account(self, account: Account) -> None:
        self.run(self.ephemeral.delete_account(account.id))

    def load_fixtures(self, path: str | Path, account: Account) -> dict[str, Any]:
        """Load a fixture directory (layout: `kazoo-vm fixtures load --help`) into the account; returns the
        ids made, by file name: {"boxes": {...}, "messages": {...}, "legacy": {...}}."""
        from . import fixtures

        return self.run(self.ephemeral.load_fixtures(fixtures.read(Path(path)), account.id))

    def close(self) -> None:
        self._stack.close()


class Client:
    """A blocking HTTP client for one account. Paths are relative to the account (`"/vmboxes"`) unless they
    start with `/v2/`. Every call answers a `Response`; the helpers check the status and answer `data`."""

    def __init__(self, account: Account, service: Service | None = None):
        self.account = account
        self.service = service
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def token(self) -> str:
        return self.account.auth_token

    def url(self, path: str) -> str:
        if path.startswith("/v2/"):
            return self.account.url + path
        return f"{self.account.url}/v2/accounts/{self.account.id}{path}"

    def request(self, method: str, path: str, *, json: Any = None, body: bytes | None = None,
                headers: dict[str, str] | None = None, token: str | bool = True) -> Response:
        """`token`: True sends the account's token, False none, a string that token."""
        headers = dict(headers or {})
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers.setdefault("Content-Type", "application/json")
        if token:
            headers["X-Auth-Token"] = self.token if token is True else str(token)
        request = urllib.request.Request(self.url(path), data=body, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=TIMEOUT) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            with error:
                return Response(error.code, error.headers, error.read())

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def put(self, path: str, **kw: Any) -> Response:
        return self.request("PUT", path, **kw)

    def post(self, path: str, **kw: Any) -> Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Response:
        return self.request("DELETE", path, **kw)

    def create_box(self, **fields: Any) -> dict[str, Any]:
        """A box (PUT /vmboxes); `name` and a unique `mailbox` are made up unless given."""
        fields.setdefault("name", "Test box")
        fields.setdefault("mailbox", str(1000 + secrets.randbelow(8_999_000)))
        return _data(self.put("/vmboxes", json={"data": fields}), 201)

    def create_message(self, box_id: str, audio: bytes | str | Path | None = None, *,
                       content_type: str | None = None, **metadata: Any) -> dict[str, Any]:
        """A message with real audio, in one multipart PUT .../messages: `audio` is bytes, a file path, or
        None for a one-second generated WAV. `metadata`: caller_id_number, folder, timestamp, ...
        Answers the message's metadata (`media_id` is its id)."""
        filename = "message.wav"
        if audio is None:
            audio, content_type = wav(), content_type or "audio/wav"
        elif not isinstance(audio, bytes):
            path = Path(audio)
            audio, filename = path.read_bytes(), path.name
            content_type = content_type or mimetypes.guess_type(path.name)[0]
        # application/octet-stream: the service finds out what the recording is
        body, multipart = _multipart(metadata, audio, content_type or "application/octet-stream", filename)
        return _data(self.put(f"/vmboxes/{box_id}/messages", body=body, headers={"Content-Type": multipart}), 201)

    def audio(self, box_id: str, message_id: str) -> bytes:
        """A message's recording (GET .../raw)."""
        response = self.get(f"/vmboxes/{box_id}/messages/{message_id}/raw")
        if response.status != 200:
            raise AssertionError(f"GET raw answered {response.status}: {response.body[:500]!r}")
        return response.body

    def load_fixtures(self, path: str | Path) -> dict[str, Any]:
        """Load a fixture directory into this account (see `Service.load_fixtures`)."""
        if self.service is None:
            raise RuntimeError("load_fixtures needs the client of a kazoo_vm fixture")
        return self.service.load_fixtures(path, self.account)


def _data(response: Response, expected: int) -> dict[str, Any]:
    if response.status != expected:
        raise AssertionError(f"expected {expected}, got {response.status}: {response.body[:500]!r}")
    return response.data


def _multipart(metadata: dict[str, Any], audio: bytes, content_type: str, filename: str) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    head = f"--{boundary}\r\nContent-Disposition: form-data; name="
    body = b"".join([
        f'{head}"data"\r\nContent-Type: application/json\r\n\r\n'.encode(),
        jsonlib.dumps({"data": metadata}).encode(), b"\r\n",
        f'{head}"file"; filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode(),
        audio, f"\r\n--{boundary}--\r\n".encode(),
    ])
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.fixture(scope="session")
def kazoo_vm_service() -> Iterator[Service]:
    """The kazoo-vm API for the whole session, started on first use and stopped at the end."""
    service = Service()
    yield service
    service.close()


@pytest.fixture
def kazoo_vm_make_account(kazoo_vm_service: Service) -> Iterator[Callable[..., Account]]:
    """`make(name="...", parent=None)` -> a fresh Account; all are deleted after the test."""
    made: list[Account] = []

    def make(name: str = "Test account", parent: Account | None = None) -> Account:
        made.append(kazoo_vm_service.create_account(name, parent))
        return made[-1]

    yield make
    for account in reversed(made):
        kazoo_vm_service.delete_account(account)


@pytest.fixture
def kazoo_vm_account(kazoo_vm_make_account: Callable[..., Account]) -> Account:
    """A fresh account with a token, for this test only."""
    return kazoo_vm_make_account()


@pytest.fixture
def kazoo_vm_client(kazoo_vm_account: Account, kazoo_vm_service: Service) -> Client:
    """A Client for this test's account."""
    return Client(kazoo_vm_account, kazoo_vm_service)
