"""Message folders: new, saved, deleted (kzd_box_message:apply_folder, docs/kazoo-behaviour.md §7)."""
from __future__ import annotations

from typing import Any

from .errors import field_error
from .values import JSON

NEW, SAVED, DELETED = "new", "saved", "deleted"
FOLDERS = (NEW, SAVED, DELETED)


def chosen(given: Any, default: str = SAVED) -> str:
    """The folder a change asks for: a value that is not a folder (or none) means the default, as in Kazoo."""
    return given if given in FOLDERS else default


def only(given: Any) -> str | None:
    """The folder whose messages a bulk delete removes; None (all) only when no folder is given:
    Kazoo reads an unknown folder as "all", which would delete what was not asked for."""
    if given is not None and given not in FOLDERS:
        raise field_error("folder", "enum", "Value not found in enumerated list of values",
                          target=list(FOLDERS), value=given)
    return given


def apply(doc: JSON, folder: str, *, soft_delete: bool = False) -> JSON:
    """Set the folder; `deleted` with soft_delete also hides the message from listings (pvt_deleted)."""
    doc.setdefault("metadata", {})["folder"] = folder
    if folder == DELETED and soft_delete:
        doc["pvt_deleted"] = True
    return doc
