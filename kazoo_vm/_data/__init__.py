"""The project's data files, shipped inside the package. The repository keeps them at its top level
(`schemas/`, `couch_views/`, `email_templates/`); setup.cfg maps those folders to the packages
`kazoo_vm._data.schemas`, `kazoo_vm._data.couch_views` and `kazoo_vm._data.email_templates`, so they are read
the same way from an editable install and from a wheel."""
from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any


def schemas_folder() -> Traversable:
    """`schemas/`: Kazoo's JSON schemas, and `openapi/components.json`."""
    return files(f"{__name__}.schemas")


def couch_views_folder() -> Traversable:
    """`couch_views/`: the design documents, one folder per kind of database."""
    return files(f"{__name__}.couch_views")


def email_templates_folder() -> Traversable:
    """`email_templates/`: the Jinja2 templates of the emails, one folder per notification."""
    return files(f"{__name__}.email_templates")


def json_documents(folder: Traversable) -> dict[str, Any]:
    """The `*.json` files of a folder, parsed, by file name without `.json`, in name order."""
    found = sorted((entry for entry in folder.iterdir() if entry.is_file() and entry.name.endswith(".json")),
                   key=lambda entry: entry.name)
    return {entry.name.removesuffix(".json"): json.loads(entry.read_text()) for entry in found}
