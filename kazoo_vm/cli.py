"""`kazoo-vm`: serve the API, create accounts, run a local development server."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from aiohttp import web
from tqdm import tqdm
from yarl import URL

from .config import Settings
from .local_couch import ROOT, LocalCouch, LocalCouchError
from .storage import StorageError, Unavailable
from .voicemail.errors import VoicemailError
from .voicemail.service import Voicemail


class CliError(Exception):
    pass


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _safe_url(url: str) -> str:
    return str(URL(url).with_user(None).with_password(None))


def serve(settings: Settings, host: str, port: int) -> None:
    from .http.app import make_app

    web.run_app(make_app(settings), host=host, port=port, access_log=None,
                print=lambda _: logging.getLogger("kazoo_vm").info("serving on http://%s:%s", host, port))


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
        account_ids = await migration_runner.all_account_ids(voicemail) if args.all else [args.account]
        work = await migration_runner.plan(voicemail, account_ids, args.box)
        total = sum(count for _, boxes in work for _, count in boxes)
        with progress_reporter(total, args.dry_run) as report:
            run = await migration_runner.migrate(voicemail, work, workers=args.workers, batch=args.batch,
                                                 dry_run=args.dry_run, progress=report)
    finally:
        await voicemail.close()
    print(json.dumps(run.as_json(), indent=2) if args.json else summary_table(run, args.dry_run))
    return 1 if run.total.failed else 0


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


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="kazoo-vm", description="Kazoo's voicemail API served from CouchDB.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cmd = commands.add_parser("serve", help="serve the API", description="Serve the API (installs missing "
                              "design documents at start). CouchDB from KAZOO_VM_COUCHDB_URL.")
    cmd.add_argument("--host", help="address to listen on (default KAZOO_VM_HOST or 127.0.0.1)")
    cmd.add_argument("--port", type=int, help="port to listen on (default KAZOO_VM_PORT or 8000)")

    cmd = commands.add_parser("dev", help="local development server", description="Start PouchDB Server on "
                              "127.0.0.1:5984 with its data under var/ (unless KAZOO_VM_COUCHDB_URL is set), "
                              "create an account if there is none, print its id and API key, and serve the API.")
    cmd.add_argument("--data", type=Path, default=ROOT / "var" / "couchdb", help="where PouchDB Server keeps data")

    accounts = commands.add_parser("accounts", help="manage accounts", description="Manage accounts.")
    account_commands = accounts.add_subparsers(dest="accounts_command", required=True, metavar="COMMAND")
    cmd = account_commands.add_parser("create", help="create an account", description="Create an account as "
                                      "Kazoo stores it and print one JSON object: id, name, realm, api_key.")
    cmd.add_argument("--name", required=True, help="account name")
    cmd.add_argument("--realm", help="SIP realm (default: derived from the name)")
    cmd.add_argument("--parent", metavar="ACCOUNT_ID", help="parent account; its tokens reach the new account")

    cmd = commands.add_parser("migrate", help="move Kazoo 3.x voicemail into the monthly databases",
                              description="Migrate the legacy (Kazoo 3.x) messages kept inside vmbox documents "
                              "into the monthly databases, with their audio. Safe to interrupt and run again.")
    which = cmd.add_mutually_exclusive_group(required=True)
    which.add_argument("--account", metavar="ID", help="migrate one account")
    which.add_argument("--all", action="store_true", help="migrate every account in the accounts database")
    cmd.add_argument("--box", metavar="ID", help="only this box (with --account)")
    cmd.add_argument("--dry-run", action="store_true", help="change nothing; report what would happen")
    cmd.add_argument("--workers", type=int, default=4, help="accounts migrated at once (default 4)")
    cmd.add_argument("--batch", type=int, default=200, help="messages written per _bulk_docs (default 200)")
    cmd.add_argument("--json", action="store_true", help="print the summary as JSON")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _setup_logging()
    settings = Settings.from_env()
    try:
        if args.command == "serve":
            serve(settings, args.host or settings.host, args.port or settings.port)
        elif args.command == "dev":
            run_dev(settings, args.data)
        elif args.command == "accounts" and args.accounts_command == "create":
            print(json.dumps(asyncio.run(create_account(settings, args.name, args.realm, args.parent))))
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
