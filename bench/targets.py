"""Where the benchmark runs: `--target pouchdb | couchdb | cluster | URL`.

- `pouchdb`: a fresh in-memory PouchDB Server (node_modules), stopped at the end.
- `couchdb` / `cluster`: a throw-away Apache CouchDB single node / 3-node cluster started with the script
  `KAZOO_VM_COUCHDB_SCRIPT` names (default `../shared/couchdb/couchdb` beside the project, when it exists),
  stopped and purged at the end.
- a URL (`http://user:password@host:port`): that server; everything the benchmark creates there is deleted.

Without `--target`: KAZOO_VM_COUCHDB_URL when it is set, else `pouchdb` (what `make bench` always did).
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from yarl import URL

from kazoo_vm.devtools.local_couch import LocalCouch

from .harness import ROOT

NAMES = ("pouchdb", "couchdb", "cluster")
DEFAULT_SCRIPT = ROOT.parent / "shared" / "couchdb" / "couchdb"
START_TIMEOUT = 300


class TargetError(RuntimeError):
    pass


def script_path() -> Path:
    return Path(os.environ.get("KAZOO_VM_COUCHDB_SCRIPT") or DEFAULT_SCRIPT)


@dataclass
class Target:
    """A CouchDB to benchmark against; `owned` ones were started here and are stopped by `stop()`."""
    name: str
    url: str = ""
    owned: bool = False
    description: str = ""
    _local: LocalCouch | None = field(default=None, repr=False)

    @property
    def shared(self) -> bool:
        """A server the benchmark did not start: what it creates there must be deleted."""
        return not self.owned

    def start(self) -> str:
        if self.name == "pouchdb":
            self._local = LocalCouch()
            self.url, self.owned = self._local.start(), True
        elif self.name in ("couchdb", "cluster"):
            self.url, self.owned = _start_couchdb(self.name == "cluster"), True
        return self.url

    def stop(self) -> None:
        if self._local is not None:
            self._local.stop()
            self._local = None
        elif self.owned and self.name in ("couchdb", "cluster"):
            port = URL(self.url).port
            subprocess.run([str(script_path()), "stop", "--port", str(port), "--purge"], capture_output=True,
                           timeout=120, check=False)
        self.owned = False


def _start_couchdb(cluster: bool) -> str:
    script = script_path()
    if not script.exists():
        raise TargetError(f"{script} does not exist: set KAZOO_VM_COUCHDB_SCRIPT to the CouchDB start script, "
                          "or give --target a URL")
    found = subprocess.run([str(script), "start", *(["--cluster"] if cluster else [])], capture_output=True,
                           text=True, timeout=START_TIMEOUT, check=False)
    url = found.stdout.strip().splitlines()[-1] if found.stdout.strip() else ""
    if found.returncode != 0 or not url.startswith("http"):
        raise TargetError(f"{script} start failed: {found.stderr.strip()[-500:]}")
    return url


def choose(given: str | None) -> Target:
    """The target `--target` names; without it KAZOO_VM_COUCHDB_URL, else pouchdb."""
    if given is None:
        env = os.environ.get("KAZOO_VM_COUCHDB_URL")
        return Target("url", env, description="KAZOO_VM_COUCHDB_URL") if env else Target("pouchdb")
    if given in NAMES:
        return Target(given)
    if URL(given).scheme in ("http", "https") and URL(given).host:
        return Target("url", given, description="--target URL")
    raise TargetError(f"--target must be one of {', '.join(NAMES)} or an http(s) URL, got {given!r}")
