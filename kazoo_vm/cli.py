"""`kazoo-vm`: serve the API, create accounts, run a local development server."""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from aiohttp import web
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
    except Unavailable:
        print(f"kazoo-vm: cannot reach CouchDB at {_safe_url(settings.couchdb_url)}", file=sys.stderr)
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
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
