"""Domain errors. Each carries the Crossbar error name (`code`) and the envelope's top-level `message`, which
is that name too, as cb_context:add_system_error/2 sends it (validation errors excepted); `data` says what is
wrong. The HTTP layer picks the status."""
from __future__ import annotations

from typing import Any


class VoicemailError(Exception):
    code = "unspecified_fault"
    message = "unspecified fault"

    def __init__(self, data: Any = None, message: str | None = None):
        super().__init__(message or self.message)
        self.data = data if data is not None else {}
        if message:
            self.message = message


class Invalid(VoicemailError):
    """Request data failed validation; data is Kazoo's `{field: {rule: {...}}}`."""
    code = "invalid_data"
    message = "validation error"


class BadIdentifier(VoicemailError):
    code = "bad_identifier"
    message = "bad_identifier"

    def __init__(self, identifier: str, cause: str | None = None):
        super().__init__({"cause": cause or identifier, "message": "bad identifier"})


class Explained(VoicemailError):
    """An error whose data is just a sentence saying what is wrong."""
    explanation = ""

    def __init__(self, what: str | None = None):
        super().__init__({"message": what or self.explanation})


class NotFoundError(Explained):
    code = "not_found"
    message = "not_found"
    explanation = "not found"


class FaultyRequest(Explained):
    code = "faulty_request"
    message = "faulty_request"


class AlreadyExists(VoicemailError):
    code = "datastore_conflict"
    message = "datastore_conflict"


class Forbidden(Explained):
    code = "forbidden"
    message = "forbidden"
    explanation = "access to this account is not allowed"


class InvalidCredentials(Explained):
    code = "invalid_credentials"
    message = "invalid_credentials"
    explanation = "invalid credentials"


def field_error(field: str, rule: str, message: str, **extra: Any) -> Invalid:
    return Invalid({field: {rule: {"message": message, **extra}}})


class KeptChanging(Explained):
    """A document changed under every attempt to save it (another writer kept winning)."""
    code = "datastore_conflict"
    message = "datastore_conflict"
    explanation = "the document kept changing while it was being saved; try again"


class BoxBusy(Explained):
    """Another change to the box's messages held its lock for longer than a request waits (voicemail/box_locks.py)."""
    code = "datastore_conflict"
    message = "datastore_conflict"
    explanation = "another change to this box's messages is still running; try again"


class StorageBusy(Explained):
    """The writes queued before this one did not finish within the storage timeout."""
    code = "datastore_fault"
    message = "datastore_fault"
    explanation = "the database is not available; try again shortly"
