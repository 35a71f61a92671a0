"""Storage: the CouchDB client, database names, design documents, attachments; `store.Store` is the one door
the layers above use."""
from .couch import JSON, CouchClient
from .errors import Conflict, NotFound, StorageError, Unavailable, is_db_missing

__all__ = ["JSON", "CouchClient", "Conflict", "NotFound", "StorageError", "Unavailable", "is_db_missing"]
