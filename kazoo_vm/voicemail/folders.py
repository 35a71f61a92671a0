"""Message folders: new, saved, deleted (kzd_box_message:apply_folder)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..storage import JSON

NEW, SAVED, DELETED = "new", "saved", "deleted"
FOLDERS = (NEW, SAVED, DELETED)


def requested(data: Mapping[str, Any], query: Mapping[str, str], body: Mapping[str, Any],
              default: str = SAVED) -> str:
    """The first folder given in data, then the query string, then the request JSON; else the default.
    A value that is not a folder means the default, as in Kazoo."""
    for source in (data, query, body):
        value = source.get("folder")
        if value is not None:
            return value if value in FOLDERS else default
    return default


def apply(doc: JSON, folder: str, *, soft_delete: bool = False) -> JSON:
    """Set the folder; `deleted` with soft_delete also hides the message from listings (pvt_deleted)."""
    doc.setdefault("metadata", {})["folder"] = folder
    if folder == DELETED and soft_delete:
        doc["pvt_deleted"] = True
    return doc
