"""Payloads as Kazoo's webhooks send them (reference §4.4, §4.5), plus `event_id`: an object hook's
`{id, account_id, action, type}`, and a notification normalized as webhooks_notifications does it
(keys lower-cased, `-` -> `_`)."""
from __future__ import annotations

from typing import Any

from .. import __version__
from ..storage.dbnames import account_db, encoded

JSON = dict[str, Any]
APP_NAME = "kazoo-vm"


def object_payload(event_id: str, account_id: str, action: str, doc_type: str, doc_id: str) -> JSON:
    return {"id": doc_id, "account_id": account_id, "action": action, "type": doc_type, "event_id": event_id}


def voicemail_payload(event_id: str, name: str, account_id: str, doc: JSON) -> JSON:
    """voicemail_new / voicemail_saved (kvm_util:publish_saved_notify), from the stored message."""
    metadata = doc.get("metadata") or {}
    payload = {
        "account_id": account_id,
        "account_db": encoded(account_db(account_id)),
        "from_user": metadata.get("from_user"),
        "from_realm": metadata.get("from_realm"),
        "to_user": metadata.get("to_user"),
        "to_realm": metadata.get("to_realm"),
        "voicemail_box": doc.get("source_id"),
        "voicemail_id": doc["_id"],
        "voicemail_timestamp": metadata.get("timestamp") or doc.get("utc_seconds"),
        "voicemail_length": metadata.get("length"),
        "voicemail_transcription": doc.get("transcription"),
        "caller_id_name": metadata.get("caller_id_name"),
        "caller_id_number": metadata.get("caller_id_number"),
        "call_id": metadata.get("call_id"),
        "event_category": "notification",
        "event_name": name,
        "app_name": APP_NAME,
        "app_version": __version__,
        "msg_id": event_id,
        "event_id": event_id,
    }
    return {key: value for key, value in payload.items() if value is not None}
