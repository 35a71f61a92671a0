"""`kazoo-vm`: serve the API, create accounts, run a local development server, migrate, preview emails."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web
from tqdm import tqdm
from yarl import URL

from . import __version__, event_loop
from .config import Settings
from .devtools.local_couch import LocalCouch, LocalCouchError
from .storage import StorageError, Unavailable
from .voicemail.errors import VoicemailError
from .voicemail.service import Voicemail

if TYPE_CHECKING:
    from .devtools.ephemeral import Ephemeral
    from .devtools.fixtures import Fixtures


class CliError(Exception):
    pass


def _setup_logging(worker: int | None = None) -> None:
    where = "" if worker is None else f"[worker {worker}] "
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s {where}%(name)s %(message)s")


def _safe_url(url: str) -> str:
    return str(URL(url).with_user(None).with_password(None))


def serve(settings: Settings, host: str, port: int, *, reuse_port: bool = False) -> None:
    from .http.app import make_app

    event_loop.choose(settings.uvloop)
    web.run_app(make_app(replace(settings, host=host, port=port)), host=host, port=port, access_log=None,
                reuse_port=reuse_port or None,
                print=lambda _: logging.getLogger("kazoo_vm").info("serving on http://%s:%s (%s event loop)", host,
                                                                   port, event_loop.running()))


def serve_worker(index: int, settings: Settings, host: str, port: int) -> None:
    """One of `serve --workers N`, in a process of its own (workers.py)."""
    from .workers import stop_with_parent

    _setup_logging(worker=index)
    stop_with_parent()
    serve(settings, host, port, reuse_port=True)


def serve_workers(settings: Settings, host: str, port: int, count: int) -> int:
    """`serve --workers N`: N processes on one port; they share one token secret (a random one when
    KAZOO_VM_SECRET is not set), so a token from any of them is valid in all."""
    from .workers import Supervisor, WorkersFailed

    if port == 0:
        raise CliError("--workers needs a fixed --port: each worker would pick a port of its own")
    logging.getLogger("kazoo_vm").info("serving on http://%s:%s with %d workers", host, port, count)
    try:
        return Supervisor(count, serve_worker, lambda index: (settings, host, port)).run()
    except WorkersFailed as failure:
        raise CliError(f"{failure}; its log is above") from None


class StopSignals:
    """SIGTERM and SIGINT stop `serve --ephemeral`. The first signal counts and later ones are ignored, so
    that stopping is never cut short; one that comes while the service is still starting unwinds the start."""
    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.wake: Callable[[], None] | None = None
        for sig in self.SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        if self.wake is None:
            raise KeyboardInterrupt
        self.wake()


def serve_ephemeral(settings: Settings, host: str, port: int, fixtures_path: Path | None) -> None:
    """Local CouchDB (unless KAZOO_VM_COUCHDB_URL is set), the API, one account (with the fixtures); the JSON
    line on stdout once it answers; on SIGTERM/SIGINT the account is deleted and all started here stopped."""
    from .devtools import ephemeral, fixtures as fixture_files

    fixtures = fixture_files.read(fixtures_path) if fixtures_path else None
    stop_signals = StopSignals()
    event_loop.choose(settings.uvloop)
    with ephemeral.couchdb(settings) as settings:
        asyncio.run(_run_ephemeral(ephemeral.Ephemeral(settings), host, port, fixtures, stop_signals))


async def _run_ephemeral(service: "Ephemeral", host: str, port: int, fixtures: "Fixtures | None",
                         stop_signals: StopSignals) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        url = await service.start(host, port)
        credentials = await service.create_account()
        line = {"url": url, "account_id": credentials.account_id, "api_key": credentials.api_key,
                "auth_token": credentials.auth_token}
        if fixtures is not None:
            line["fixtures"] = await service.load_fixtures(fixtures, credentials.account_id)
        stop_signals.wake = lambda: loop.call_soon_threadsafe(stop.set)
        print(json.dumps(line), flush=True)
        await stop.wait()
        logging.getLogger("kazoo_vm").info("stopping")
    finally:
        await service.stop()


async def create_account(settings: Settings, name: str, realm: str | None, parent: str | None) -> dict:
    voicemail = Voicemail(settings)
    try:
        account, api_key = await voicemail.accounts.create(name, realm, parent)
    finally:
        await voicemail.close()
    return {"id": account.id, "name": account.name, "realm": account.realm, "api_key": api_key}


async def dev_account(settings: Settings) -> dict:
    """The first account of the local server, created when there is none."""
    voicemail = Voicemail(settings)
    try:
        await voicemail.start()
        doc = await voicemail.accounts.any_account()
    finally:
        await voicemail.close()
    if doc is not None:
        return {"id": doc["_id"], "name": doc.get("name"), "realm": doc.get("realm"), "api_key": doc["pvt_api_key"]}
    return await create_account(settings, "Local development", None, None)


def run_dev(settings: Settings, data_dir: Path) -> None:
    couch = None
    if not settings.couchdb_url_given:
        couch = LocalCouch(port=5984, data_dir=data_dir)
        couch.start()
        logging.getLogger("kazoo_vm").info("local CouchDB (PouchDB Server) on %s, data in %s", couch.url, data_dir)
    try:
        account = asyncio.run(dev_account(settings))
        print(f"account id: {account['id']}\napi key:    {account['api_key']}\n"
              f"get a token: curl -s -X PUT http://{settings.host}:{settings.port}/v2/api_auth "
              f"-d '{{\"data\": {{\"api_key\": \"{account['api_key']}\"}}}}'", flush=True)
        serve(settings, settings.host, settings.port)
    finally:
        if couch is not None:
            couch.stop()


async def migrate(settings: Settings, args: argparse.Namespace) -> int:
    from .voicemail import migration_runner

    voicemail = Voicemail(settings)
    try:
        await voicemail.start()
        account_ids = await voicemail.accounts.all_ids() if args.all else [args.account]
        work = await migration_runner.plan(voicemail, account_ids, args.box, skip_missing=args.all)
        total = sum(count for _, boxes in work for _, count in boxes)
        with progress_reporter(total, args.dry_run) as report:
            run = await migration_runner.migrate(voicemail, work, workers=args.workers, batch=args.batch,
                                                 dry_run=args.dry_run, progress=report)
    finally:
        await voicemail.close()
    print(json.dumps(run.as_json(), indent=2) if args.json else summary_table(run, args.dry_run))
    return 1 if run.total.failed else 0


async def notify_preview(settings: Settings, account_id: str, box_id: str, message_id: str | None) -> str:
    """The email a new message of the box gets (the message named, else a sample), composed, not sent."""
    from .notifications.service import Notifications, render_preview

    voicemail = Voicemail(settings)
    try:
        return render_preview(await Notifications(settings, voicemail).preview(account_id, box_id, message_id))
    finally:
        await voicemail.close()


@contextmanager
def progress_reporter(total: int, dry_run: bool):
    """A progress bar on a terminal; plain log lines otherwise."""
    log = logging.getLogger("kazoo_vm.migrate")
    verb = "would migrate" if dry_run else "migrated"
    if sys.stderr.isatty():
        with tqdm(total=total, unit="msg", desc="legacy messages", file=sys.stderr) as bar:
            yield lambda account, stats: bar.update(stats.processed)
        return
    done = 0

    def report(account, stats) -> None:
        nonlocal done
        done += stats.processed
        log.info("account %s: %s %d of %d, failed %d, no media id %d (%d/%d overall)", account.id, verb,
                 stats.succeeded, stats.processed, stats.failed, stats.no_ids, done, total)

    yield report


def summary_table(run, dry_run: bool) -> str:
    rows = [("account", "processed", "succeeded", "failed", "no_ids")]
    for account_id, stats in run.accounts.items():
        rows.append((account_id, *map(str, stats.summary().values())))
    rows.append(("total", *map(str, run.total.summary().values())))
    lines = ["  ".join(cell.ljust(32 if i == 0 else 9) for i, cell in enumerate(row)).rstrip() for row in rows]
    if dry_run:
        lines.append("dry run: nothing was changed; 'succeeded' counts what would be migrated")
    for account_id, stats in run.accounts.items():
        for media_id, reason in stats.errors.items():
            lines.append(f"failed: account {account_id} media {media_id}: {reason}")
    return "\n".join(lines)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {number}")
    return number


async def load_fixtures(settings: Settings, path: Path, account_id: str | None) -> dict:
    """Load a fixture directory into an account (a new one unless given); a failed load into a new
    account deletes that account again."""
    from .devtools import fixtures as fixture_files
    from .devtools.ephemeral import delete_account

    fixtures = fixture_files.read(path)
    voicemail = Voicemail(settings)
    try:
        if account_id is None:
            account, api_key = await voicemail.accounts.create(f"Fixtures {path.resolve().name}")
        else:
            account = await voicemail.accounts.get(account_id)
            api_key = await voicemail.accounts.api_key(account)
        try:
            loaded = await fixture_files.load(voicemail, fixtures, account)
        except BaseException:
            if account_id is None:
                await delete_account(voicemail, account.id)
            raise
    finally:
        await voicemail.close()
    return {"account_id": account.id, "api_key": api_key, **loaded.as_json()}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kazoo-vm", description="Kazoo's voicemail API served from CouchDB.")
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cmd = commands.add_parser("serve", help="serve the API", description="Serve the API (installs missing "
                              "design documents at start). CouchDB from KAZOO_VM_COUCHDB_URL.")
    cmd.add_argument("--host", help="address to listen on (default KAZOO_VM_HOST or 127.0.0.1)")
    cmd.add_argument("--port", type=int, help="port to listen on (default KAZOO_VM_PORT or 8000; with "
                     "--ephemeral a free port)")
    cmd.add_argument("--workers", type=_positive, default=1,
                     help="processes serving the port (SO_REUSEPORT; default 1): use up to one per core")
    cmd.add_argument("--ephemeral", action="store_true",
                     help="for test harnesses: start an in-memory local CouchDB unless KAZOO_VM_COUCHDB_URL is "
                          "set, create an account, print one JSON line (url, account_id, api_key, auth_token) "
                          "once ready; SIGTERM/SIGINT delete the account and stop everything started")
    cmd.add_argument("--fixtures", type=Path, metavar="PATH", help="with --ephemeral: load this fixture "
                     "directory (see `fixtures load`) into the account first; the line gets `fixtures`: the ids")

    cmd = commands.add_parser("dev", help="local development server", description="Start PouchDB Server on "
                              "127.0.0.1:5984 with its data under var/ (unless KAZOO_VM_COUCHDB_URL is set), "
                              "create an account if there is none, print its id and API key, and serve the API.")
    cmd.add_argument("--data", type=Path, default=Path("var") / "couchdb",
                     help="where PouchDB Server keeps data (default var/couchdb in the current folder)")

    accounts = commands.add_parser("accounts", help="manage accounts", description="Manage accounts.")
    account_commands = accounts.add_subparsers(dest="accounts_command", required=True, metavar="COMMAND")
    cmd = account_commands.add_parser("create", help="create an account", description="Create an account as "
                                      "Kazoo stores it and print one JSON object: id, name, realm, api_key.")
    cmd.add_argument("--name", required=True, help="account name")
    cmd.add_argument("--realm", help="SIP realm (default: derived from the name)")
    cmd.add_argument("--parent", metavar="ACCOUNT_ID", help="parent account; its tokens reach the new account")

    fixtures = commands.add_parser("fixtures", help="load test data", description="Load test data.")
    fixture_commands = fixtures.add_subparsers(dest="fixtures_command", required=True, metavar="COMMAND")
    cmd = fixture_commands.add_parser(
        "load", help="load boxes, messages and legacy boxes from a directory",
        description="Load PATH/boxes/*.json, PATH/messages/*.json (audio files relative to PATH) and "
                    "PATH/legacy/*.json (Kazoo 3.x boxes) into a new account, or into --account; print one "
                    "JSON object: account_id, api_key and the ids made, by file name. The layout is in the "
                    "README.")
    cmd.add_argument("path", type=Path, metavar="PATH", help="the fixture directory")
    cmd.add_argument("--account", metavar="ID", help="load into this existing account")

    cmd = commands.add_parser("migrate", help="move Kazoo 3.x voicemail into the monthly databases",
                              description="Migrate the legacy (Kazoo 3.x) messages kept inside vmbox documents "
                              "into the monthly databases, with their audio. Safe to interrupt and run again.")
    which = cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--account", metavar="ID", help="migrate one account")
    which.add_argument("--all", action="store_true", help="migrate every account in the accounts database")
    cmd.add_argument("--box", metavar="ID", help="only this box (with --account)")
    cmd.add_argument("--dry-run", action="store_true", help="change nothing; report what would happen")
    cmd.add_argument("--workers", type=_positive, default=4, help="accounts migrated at once (default 4)")
    cmd.add_argument("--batch", type=_positive, default=200, help="legacy messages of each box a step (default 200)")
    cmd.add_argument("--json", action="store_true", help="print the summary as JSON")

    notify = commands.add_parser("notify", help="new voicemail by email", description="New voicemail by email.")
    notify_commands = notify.add_subparsers(dest="notify_command", required=True, metavar="COMMAND")
    cmd = notify_commands.add_parser(
        "preview", help="print the email a new message would get, without sending it",
        description="Print the email a box's new message gets (headers, text body, attachment name and size), "
                    "with the templates and KAZOO_VM_EMAIL_FROM in force; nothing is sent. Without --message, "
                    "a sample message.")
    cmd.add_argument("--account", required=True, metavar="ID", help="the account")
    cmd.add_argument("--box", required=True, metavar="ID", help="the box")
    cmd.add_argument("--message", metavar="ID", help="one of the box's messages (default: a sample)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _setup_logging()
    settings = Settings.from_env()
    try:
        if args.command == "serve" and args.fixtures and not args.ephemeral:
            raise CliError("--fixtures needs --ephemeral (or use `kazoo-vm fixtures load`)")
        if args.command == "serve" and args.ephemeral and args.workers > 1:
            raise CliError("--ephemeral serves with one process; --workers needs plain `serve`")
        if args.command == "serve" and args.ephemeral:
            serve_ephemeral(settings, args.host or settings.host, args.port or 0, args.fixtures)
        elif args.command == "serve" and args.workers > 1:
            port = settings.port if args.port is None else args.port
            return serve_workers(settings, args.host or settings.host, port, args.workers)
        elif args.command == "serve":
            serve(settings, args.host or settings.host, args.port or settings.port)
        elif args.command == "dev":
            run_dev(settings, args.data)
        elif args.command == "accounts" and args.accounts_command == "create":
            print(json.dumps(asyncio.run(create_account(settings, args.name, args.realm, args.parent))))
        elif args.command == "fixtures" and args.fixtures_command == "load":
            print(json.dumps(asyncio.run(load_fixtures(settings, args.path, args.account))))
        elif args.command == "notify" and args.notify_command == "preview":
            sys.stdout.write(asyncio.run(notify_preview(settings, args.account, args.box, args.message)))
        elif args.command == "migrate":
            if args.box and not args.account:
                raise CliError("--box needs --account")
            return asyncio.run(migrate(settings, args))
    except Unavailable as error:
        print(f"kazoo-vm: CouchDB at {_safe_url(settings.couchdb_url)}: {error}", file=sys.stderr)
        return 1
    except VoicemailError as error:
        detail = error.data.get("message") if isinstance(error.data, dict) else None
        cause = error.data.get("cause") if isinstance(error.data, dict) else None
        print(f"kazoo-vm: {error.message}{': ' + str(cause) if cause else ''}"
              f"{' (' + detail + ')' if detail else ''}", file=sys.stderr)
        return 1
    except (StorageError, LocalCouchError, CliError, OSError) as error:
        print(f"kazoo-vm: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.command == "migrate":
            print("kazoo-vm: interrupted; run the same command again to finish", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
