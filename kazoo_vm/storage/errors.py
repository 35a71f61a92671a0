"""What can go wrong when talking to CouchDB, as exceptions the upper layers can map."""


class StorageError(Exception):
    def __init__(self, message: str = "storage error", *, status: int | None = None, dropped: bool = False,
                 missing_stub: bool = False):
        super().__init__(message)
        self.status = status
        # 412 missing_stub: a copy of the document lacks an attachment the write names
        self.missing_stub = missing_stub
        # the connection closed before any answer came: the request may or may not have reached CouchDB
        self.dropped = dropped
        # set by the client when this came after the request was sent again
        self.resent = False


class NotFound(StorageError):
    pass


class Conflict(StorageError):
    pass


class Unavailable(StorageError):
    """CouchDB cannot be reached, timed out, or failed on its side."""


MISSING_DB = "Database does not exist."
DB_MISSING_REASONS = {"no_db_file", MISSING_DB}


def is_db_missing(error: NotFound) -> bool:
    return str(error) in DB_MISSING_REASONS
