"""`kazoo-vm serve --ephemeral` as a harness in another language runs it: a subprocess, one JSON line on
stdout, the token used against the API, then SIGTERM or SIGINT, after which nothing it started is left.

Each run gets its own TMPDIR, so the in-memory PouchDB Server it starts is found by its command line
(its working directory is made there) even after it would have been orphaned."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from pathlib import Path

import pytest

from kazoo_vm.devtools.local_couch import free_port, port_in_use
from kazoo_vm.storage.dbnames import ACCOUNTS_DB, account_db, modb, year_month
from kazoo_vm.testing import Account, Client

pytestmark = pytest.mark.slow

STARTUP = 120  # seconds; guards against a hang, asserts nothing about speed
KEYS = {"url", "account_id", "api_key", "auth_token"}


def start(tmp_path: Path, *args: str, couch_url: str | None = None, env: dict | None = None) -> subprocess.Popen:
    env = {**{key: value for key, value in os.environ.items() if key != "KAZOO_VM_COUCHDB_URL"}, **(env or {})}
    env["TMPDIR"] = str(tmp_path)
    if couch_url:
        env["KAZOO_VM_COUCHDB_URL"] = couch_url
    return subprocess.Popen([sys.executable, "-m", "kazoo_vm", "serve", "--ephemeral", *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ready_line(process: subprocess.Popen) -> dict:
    with ThreadPoolExecutor(1) as pool:
        try:
            line = pool.submit(process.stdout.readline).result(STARTUP)
        except FutureTimeout:
            process.kill()
            raise AssertionError("no JSON line from `serve --ephemeral`") from None
    if not line:
        process.wait(STARTUP)
        raise AssertionError(f"`serve --ephemeral` exited: {process.stderr.read()}")
    return json.loads(line)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
    """Send a signal; (exit code, what else it wrote to stdout, its stderr)."""
    process.send_signal(sig)
    out, err = process.communicate(timeout=STARTUP)
    return process.returncode, out, err


def processes_under(directory: Path) -> list[int]:
    """Live processes whose command line names something under `directory` (the PouchDB Server's config)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(directory) in command and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(find, what: str):
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if found := find():
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {what}")


def couch_port(pid: int) -> int:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return int(args[args.index(b"--port") + 1])


@pytest.fixture
def ephemeral(tmp_path):
    """Starts `serve --ephemeral`; kills whatever a failed test left running."""
    started: list[subprocess.Popen] = []

    def run(*args: str, couch_url: str | None = None, env: dict | None = None) -> subprocess.Popen:
        started.append(start(tmp_path, *args, couch_url=couch_url, env=env))
        return started[-1]

    yield run
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()
    for pid in processes_under(tmp_path):
        os.kill(pid, signal.SIGKILL)


def client_for(line: dict) -> Client:
    return Client(Account(line["account_id"], line["api_key"], line["auth_token"], "", line["url"]))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_one_line_a_working_token_and_nothing_left_after_the_signal(ephemeral, tmp_path, sig):
    process = ephemeral()
    line = ready_line(process)
    assert set(line) == KEYS and line["url"].startswith("http://127.0.0.1:")
    [couch] = processes_under(tmp_path)
    assert "pouchdb-server" in Path(f"/proc/{couch}/cmdline").read_text(errors="replace")

    client = client_for(line)
    box = client.create_box(name="Reception", mailbox="3000")
    message = client.create_message(box["id"], caller_id_number="6001")
    assert client.get("/vmboxes").data[0]["id"] == box["id"]
    assert client.audio(box["id"], message["media_id"]).startswith(b"RIFF")
    auth = client.put("/v2/api_auth", json={"data": {"api_key": line["api_key"]}}, token=False)
    assert auth.status == 201 and auth.data["account_id"] == line["account_id"]

    port = couch_port(couch)
    code, rest, err = stop(process, sig)
    assert code == 0, err
    assert rest == ""  # stdout is exactly the one line
    assert "serving on" in err and line["api_key"] not in err and line["auth_token"] not in err
    assert "(uvloop event loop)" in err
    assert processes_under(tmp_path) == [] and not Path(f"/proc/{couch}").exists()
    assert not port_in_use("127.0.0.1", port)
    assert not list(tmp_path.glob("kazoo-vm-couch-*"))  # its working directory is removed too


def test_given_port(ephemeral):
    port = free_port()
    process = ephemeral("--port", str(port))
    line = ready_line(process)
    assert line["url"] == f"http://127.0.0.1:{port}"
    assert client_for(line).get("/vmboxes").status == 200
    assert stop(process)[0] == 0


def test_a_token_of_another_server_is_refused(ephemeral):
    first, second = ephemeral(), ephemeral()
    one, other = ready_line(first), ready_line(second)
    assert one["url"] != other["url"]
    stranger = Client(Account(one["account_id"], "", other["auth_token"], "", one["url"]))
    assert stranger.get("/vmboxes").status == 401
    assert stop(first)[0] == 0 and stop(second)[0] == 0


def test_a_signal_while_starting_leaves_nothing(ephemeral, tmp_path):
    """SIGTERM as soon as its PouchDB Server exists, ready or not: it is stopped all the same."""
    process = ephemeral()
    [couch] = wait_for(lambda: processes_under(tmp_path), "its PouchDB Server")
    code, _, err = stop(process)
    assert code in (0, 130), err
    assert processes_under(tmp_path) == [] and not Path(f"/proc/{couch}").exists()


async def test_with_a_couchdb_url_it_starts_none_and_deletes_its_account(ephemeral, tmp_path, couch_url, couch):
    process = ephemeral(couch_url=couch_url)
    line = ready_line(process)
    try:
        assert processes_under(tmp_path) == []
        client = client_for(line)
        box = client.create_box(name="Shared")
        message = client.create_message(box["id"])
        assert (await couch.get(ACCOUNTS_DB, line["account_id"]))["pvt_api_key"] == line["api_key"]
        code, rest, err = stop(process)
        assert code == 0 and rest == "", err
        assert await couch.get_or_none(ACCOUNTS_DB, line["account_id"]) is None
        for db in (account_db(line["account_id"]), modb(line["account_id"], *year_month(message["timestamp"]))):
            assert not await couch.db_exists(db)
    finally:
        doc = await couch.get_or_none(ACCOUNTS_DB, line["account_id"])
        if doc:
            await couch.db_delete(account_db(line["account_id"]))
            await couch.delete(ACCOUNTS_DB, line["account_id"], doc["_rev"])


@pytest.mark.parametrize("flag, loop", [(None, "uvloop"), ("false", "asyncio")])
def test_the_api_runs_on_uvloop_unless_kazoo_vm_uvloop_is_false(ephemeral, couch_url, flag, loop):
    process = ephemeral(couch_url=couch_url, env={} if flag is None else {"KAZOO_VM_UVLOOP": flag})
    client = client_for(ready_line(process))
    box = client.create_box(name="Loop")
    assert client.get(f"/vmboxes/{box['id']}").data["name"] == "Loop"
    code, _, err = stop(process)
    assert code == 0, err
    assert re.search(rf"serving on http://127\.0\.0\.1:\d+ \({loop} event loop\)", err), err


def test_with_fixtures_the_account_starts_from_them(ephemeral):
    process = ephemeral("--fixtures", str(Path(__file__).parent / "data" / "fixtures"))
    line = ready_line(process)
    assert set(line) == KEYS | {"fixtures"}
    client, made = client_for(line), line["fixtures"]
    assert sorted(box["name"] for box in client.get("/vmboxes").data) == ["Old support", "Reception", "Sales"]
    reception = client.get(f"/vmboxes/{made['boxes']['reception']}/messages").data
    assert [message["media_id"] for message in reception] == [made["messages"]["hello"], made["messages"]["callback"]]
    assert stop(process)[0] == 0


def test_a_port_in_use_is_one_line_and_leaves_nothing(ephemeral, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        process = ephemeral("--port", str(taken.getsockname()[1]))
        out, err = process.communicate(timeout=STARTUP)
    assert process.returncode == 1 and out == ""
    assert err.strip().splitlines()[-1].startswith("kazoo-vm: ")
    assert processes_under(tmp_path) == [] and not list(tmp_path.glob("kazoo-vm-couch-*"))


@pytest.mark.parametrize("args, message", [(["--fixtures", "."], "--fixtures needs --ephemeral"),
                                           (["--ephemeral", "--fixtures", "/nonexistent"], "not a directory")])
def test_bad_options_fail_before_anything_starts(tmp_path, args, message):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "kazoo_vm", "serve", *args], env=env, capture_output=True,
                            text=True, timeout=STARTUP)
    assert result.returncode == 1 and result.stdout == "" and message in result.stderr
    assert not list(tmp_path.glob("kazoo-vm-couch-*"))
