"""Settings from the environment; every variable is documented in the README."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"kazoo-vm: {name} must be a whole number, got {value!r}") from None


def _flag(name: str, default: bool) -> bool:
    value = (os.environ.get(name) or "").strip().lower()
    if value == "":
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"kazoo-vm: {name} must be true or false, got {value!r}")


def _float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except ValueError:
        raise SystemExit(f"kazoo-vm: {name} must be a number, got {value!r}") from None


def _seconds_list(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    value = (os.environ.get(name) or "").strip()
    if value == "":
        return default
    try:
        found = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        found = ()
    if not found or any(item < 0 for item in found):
        raise SystemExit(f"kazoo-vm: {name} must be seconds separated by commas, got {value!r}")
    return found


def _quorum(value: str) -> str:
    if value in ("all", "default") or (value.isdigit() and int(value) > 0):
        return value
    raise SystemExit(f"kazoo-vm: KAZOO_VM_COUCHDB_WRITE_QUORUM must be all, default or a number, got {value!r}")


@dataclass(frozen=True)
class Settings:
    couchdb_url: str = "http://127.0.0.1:5984"
    host: str = "127.0.0.1"
    port: int = 8000
    secret: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    token_ttl: int = 3600
    page_size: int = 50
    max_body_bytes: int = 2 * 1024 * 1024
    max_audio_bytes: int = 200 * 1024 * 1024
    max_bulk_ids: int = 5000
    retention_days: int = 93
    couch_timeout: float = 10.0
    write_quorum: str = "all"
    couchdb_url_given: bool = False
    events: bool = True  # follow CouchDB's change feeds and deliver webhooks
    uvloop: bool = True  # serve on uvloop's event loop (event_loop.py)
    webhook_timeout: float = 10.0
    webhook_backoff: float = 1.0  # first retry after this many seconds, doubling
    webhook_refuse_private: bool = False
    webhook_log_successes: bool = False
    webhook_failure_count: int = 6
    webhook_failure_window: float = 60.0
    events_poll_seconds: float = 2.0  # without _db_updates: how often known databases are polled
    smtp_url: str | None = field(default=None, repr=False)  # may carry credentials: never logged
    email_from: str | None = None
    email_max_attachment_bytes: int = 10 * 1024 * 1024
    # waits before each retry of a failed email (Kazoo's 15 min, 45 min, 2 h, 1 day, after a first quick one)
    email_retry_seconds: tuple[float, ...] = (30.0, 900.0, 2700.0, 7200.0, 86400.0)
    email_timeout: float = 30.0
    email_templates: str | None = None  # a folder whose templates replace the shipped ones

    @classmethod
    def from_env(cls) -> "Settings":
        env = os.environ
        defaults = cls()
        return cls(
            couchdb_url=env.get("KAZOO_VM_COUCHDB_URL") or defaults.couchdb_url,
            host=env.get("KAZOO_VM_HOST") or defaults.host,
            port=_int("KAZOO_VM_PORT", defaults.port),
            secret=env.get("KAZOO_VM_SECRET") or defaults.secret,
            token_ttl=_int("KAZOO_VM_TOKEN_TTL", defaults.token_ttl),
            page_size=_int("KAZOO_VM_PAGE_SIZE", defaults.page_size),
            max_body_bytes=_int("KAZOO_VM_MAX_BODY_BYTES", defaults.max_body_bytes),
            max_audio_bytes=_int("KAZOO_VM_MAX_AUDIO_BYTES", defaults.max_audio_bytes),
            max_bulk_ids=_int("KAZOO_VM_MAX_BULK_IDS", defaults.max_bulk_ids),
            retention_days=_int("KAZOO_VM_RETENTION_DAYS", defaults.retention_days),
            couch_timeout=float(_int("KAZOO_VM_COUCHDB_TIMEOUT", int(defaults.couch_timeout))),
            write_quorum=_quorum(env.get("KAZOO_VM_COUCHDB_WRITE_QUORUM") or defaults.write_quorum),
            couchdb_url_given=bool(env.get("KAZOO_VM_COUCHDB_URL")),
            events=_flag("KAZOO_VM_EVENTS", defaults.events),
            uvloop=_flag("KAZOO_VM_UVLOOP", defaults.uvloop),
            webhook_timeout=_float("KAZOO_VM_WEBHOOK_TIMEOUT", defaults.webhook_timeout),
            webhook_backoff=_float("KAZOO_VM_WEBHOOK_BACKOFF", defaults.webhook_backoff),
            webhook_refuse_private=_flag("KAZOO_VM_WEBHOOK_REFUSE_PRIVATE", defaults.webhook_refuse_private),
            webhook_log_successes=_flag("KAZOO_VM_WEBHOOK_LOG_SUCCESSES", defaults.webhook_log_successes),
            webhook_failure_count=_int("KAZOO_VM_WEBHOOK_FAILURE_COUNT", defaults.webhook_failure_count),
            webhook_failure_window=_float("KAZOO_VM_WEBHOOK_FAILURE_WINDOW", defaults.webhook_failure_window),
            events_poll_seconds=_float("KAZOO_VM_EVENTS_POLL_SECONDS", defaults.events_poll_seconds),
            smtp_url=env.get("KAZOO_VM_SMTP_URL") or None,
            email_from=env.get("KAZOO_VM_EMAIL_FROM") or None,
            email_max_attachment_bytes=_int("KAZOO_VM_EMAIL_MAX_ATTACHMENT_BYTES",
                                            defaults.email_max_attachment_bytes),
            email_retry_seconds=_seconds_list("KAZOO_VM_EMAIL_RETRY_SECONDS", defaults.email_retry_seconds),
            email_timeout=_float("KAZOO_VM_EMAIL_TIMEOUT", defaults.email_timeout),
            email_templates=env.get("KAZOO_VM_EMAIL_TEMPLATES") or None,
        )
