"""The local CouchDB: PouchDB Server (npm package `pouchdb-server`), on disk or in memory."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

PROGRAM = "pouchdb-server"
NOT_FOUND = ("PouchDB Server not found: set KAZOO_VM_POUCHDB_SERVER to its program, or run `npm install "
             "pouchdb-server` in this folder or one above it (in kazoo-vm's checkout: `make setup`), or put "
             "`pouchdb-server` on PATH; or set KAZOO_VM_COUCHDB_URL to a running CouchDB")


class LocalCouchError(RuntimeError):
    pass


def pouchdb_server() -> Path:
    """The PouchDB Server program: KAZOO_VM_POUCHDB_SERVER, else `node_modules/.bin/pouchdb-server` of the
    current folder or the nearest folder above it that has one (as npm finds a project's programs),
    else `pouchdb-server` on PATH."""
    given = os.environ.get("KAZOO_VM_POUCHDB_SERVER")
    if given:
        if not Path(given).exists():
            raise LocalCouchError(f"KAZOO_VM_POUCHDB_SERVER: {given} does not exist")
        return Path(os.path.abspath(given))  # PouchDB Server runs in a folder of its own
    cwd = Path.cwd()
    for folder in (cwd, *cwd.parents):
        candidate = folder / "node_modules" / ".bin" / PROGRAM
        if candidate.exists():
            return candidate
    on_path = shutil.which(PROGRAM)
    if on_path is None:
        raise LocalCouchError(NOT_FOUND)
    return Path(on_path)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


class LocalCouch:
    """A PouchDB Server child process. `data_dir=None` keeps everything in memory."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None, data_dir: Path | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.data_dir = Path(os.path.abspath(data_dir)) if data_dir else None  # PouchDB Server runs in it
        self.process: subprocess.Popen | None = None
        self._workdir: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> str:
        binary = pouchdb_server()
        if port_in_use(self.host, self.port):
            raise LocalCouchError(f"port {self.port} on {self.host} is already in use")
        args = [str(binary), "--host", self.host, "--port", str(self.port), "--no-stdout-logs"]
        if self.data_dir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="kazoo-vm-couch-")
            workdir = Path(self._workdir.name)
            args.append("--in-memory")
        else:
            workdir = self.data_dir
            workdir.mkdir(parents=True, exist_ok=True)
            args += ["--dir", str(workdir / "data")]
        args += ["--config", str(workdir / "config.json")]
        self._stderr = workdir / "stderr.log"
        with open(self._stderr, "wb") as stderr:
            self.process = subprocess.Popen(args, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=stderr, start_new_session=True)
        self._wait_until_up(timeout)
        return self.url

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self._stderr.read_text(errors="replace").strip().splitlines()
                raise LocalCouchError(f"PouchDB Server exited: {error[-1] if error else 'no output'}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise LocalCouchError(f"PouchDB Server did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> "LocalCouch":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
