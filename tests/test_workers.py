"""`kazoo-vm serve --workers N`: N processes on one port that accept each other's tokens and stop together."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kazoo_vm.devtools.local_couch import free_port

from test_cli import cli, created, run  # noqa: F401 - the fixture is used by name

pytestmark = pytest.mark.slow

START_SECONDS = 90


def _request(url: str, method: str = "GET", body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    """One request on a connection of its own (so that the kernel may give it to any worker)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"X-Auth-Token": token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_for_workers(log: Path, process: subprocess.Popen, count: int) -> list[int]:
    """The workers' process ids, once every one of them serves."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        text = log.read_text()
        if len(re.findall(r"\[worker \d+\] kazoo_vm serving on", text)) == count:
            return [int(pid) for pid in re.findall(r"worker \d+ started \(pid (\d+)\)", text)]
        assert process.poll() is None, text
        time.sleep(0.2)
    raise AssertionError(f"the workers did not start: {log.read_text()}")


def test_two_workers_share_the_port_and_accept_each_others_tokens(cli, couch_url, tmp_path):  # noqa: F811
    account = created(cli("--name", "Workers"))
    port, log = free_port(), tmp_path / "serve.log"
    env = {key: value for key, value in os.environ.items() if key != "KAZOO_VM_SECRET"}
    env["KAZOO_VM_COUCHDB_URL"] = couch_url
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "kazoo_vm", "serve", "--workers", "2", "--port", str(port)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        pids = _wait_for_workers(log, process, 2)
        base = f"http://127.0.0.1:{port}/v2"
        status, body = _request(f"{base}/api_auth", "PUT", {"data": {"api_key": account["api_key"]}})
        assert status == 201, body
        token = body["auth_token"]
        for _ in range(30):
            status, body = _request(f"{base}/accounts/{account['id']}/vmboxes", token=token)
            assert status == 200, body
        served = set(re.findall(r"\[worker (\d+)\] kazoo_vm.http GET /v2/accounts", log.read_text()))
        assert served == {"0", "1"}, log.read_text()  # 30 connections: both workers answered, with one token
        loops = re.findall(r"\[worker \d+\] kazoo_vm serving on \S+ \((\w+) event loop\)", log.read_text())
        assert loops == ["uvloop", "uvloop"], log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), pid


def test_workers_need_a_fixed_port_and_plain_serve(couch_url):
    found = run("serve", "--workers", "2", "--port", "0", couch_url=couch_url)
    assert found.returncode == 1
    assert "--workers needs a fixed --port" in found.stderr
    found = run("serve", "--workers", "2", "--ephemeral", couch_url=couch_url)
    assert found.returncode == 1
    assert "--ephemeral serves with one process" in found.stderr


def test_workers_stop_when_their_supervisor_is_killed(couch_url, tmp_path):
    port, log = free_port(), tmp_path / "serve.log"
    env = {**os.environ, "KAZOO_VM_COUCHDB_URL": couch_url}
    with open(log, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "kazoo_vm", "serve", "--workers", "2", "--port", str(port)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        pids = _wait_for_workers(log, process, 2)
    finally:
        process.kill()
        process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids), log.read_text()
