"""Fixtures: a directory of JSON files loaded into an account, so a test harness starts from a known state
(`kazoo-vm fixtures load`, and the pytest plugin). Layout, every part optional, files loaded in name order:

    PATH/boxes/NAME.json     one box: the `data` of PUT /vmboxes (`name`, `mailbox`, ...; `id` to choose it)
    PATH/messages/NAME.json  one message: `box` (the NAME of a file in boxes/, or the id of a box of the
                             account), `audio` (a file, relative to PATH), `content_type` (default: read
                             from the file), `age` (seconds before now; or `timestamp` in Gregorian seconds),
                             and the metadata of PUT .../messages (caller_id_number, folder, ...)
    PATH/legacy/NAME.json    one Kazoo 3.x box, written as 3.x stored it (not validated): box fields, `id`
                             optional, and `messages`: a list of entries, each with `audio` (its recording
                             becomes a private_media document; no `audio`: no document, as after a lost
                             recording), optionally `media_id`, `age` or `timestamp`, and entry fields.

Boxes and messages go through the domain layer, exactly as the API creates them; legacy boxes stay legacy
until something migrates them.
"""
from __future__ import annotations

import json
import mimetypes
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..storage import JSON, Conflict
from ..storage.dbnames import encoded, gregorian_now
from ..voicemail.accounts import Account
from ..voicemail.audio import AudioFile, probe
from ..voicemail.actor import Actor
from ..voicemail.errors import VoicemailError
from ..voicemail.ids import is_box_id, new_id
from ..voicemail.service import Voicemail
from ..voicemail.values import is_whole_number

KINDS = ("boxes", "messages", "legacy")
LOADER_KEYS = ("box", "audio", "content_type", "age")
ACTOR = Actor(request_id="fixtures-load")


class FixtureError(VoicemailError):
    code = "invalid_fixture"
    message = "invalid fixture"

    def __init__(self, file: Path, what: str):
        super().__init__({"message": f"{file}: {what}"})


@dataclass(frozen=True)
class Fixture:
    name: str
    file: Path
    data: JSON


@dataclass
class Fixtures:
    root: Path
    boxes: list[Fixture]
    messages: list[Fixture]
    legacy: list[Fixture]


@dataclass
class Loaded:
    """The ids made, by fixture name: `boxes` and `messages` -> id, `legacy` -> box id and media ids."""
    boxes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    legacy: dict[str, JSON] = field(default_factory=dict)

    def as_json(self) -> JSON:
        return {"boxes": self.boxes, "messages": self.messages, "legacy": self.legacy}


def read(root: Path) -> Fixtures:
    """Parse and check every file (JSON, box references, audio files present) before anything is written."""
    if not root.is_dir():
        raise FixtureError(root, "not a directory")
    if not any((root / kind).is_dir() for kind in KINDS):
        raise FixtureError(root, "has none of boxes/, messages/, legacy/")
    found = Fixtures(root, *(_read_kind(root, kind) for kind in KINDS))
    box_names = {fixture.name for fixture in found.boxes}
    legacy_names = {fixture.name for fixture in found.legacy}
    for fixture in found.messages:
        box = fixture.data.get("box")
        if not isinstance(box, str) or not (box in box_names or is_box_id(box)):
            raise FixtureError(fixture.file, "`box` must name a file of boxes/ or be a box id")
        if box in legacy_names and box not in box_names:
            raise FixtureError(fixture.file, "a message of a legacy box belongs in its legacy/ file")
        _audio_path(root, fixture, fixture.data)
        _timestamp(fixture, fixture.data, 0)
    for fixture in found.legacy:
        box_id = fixture.data.get("id")
        if box_id is not None and not (isinstance(box_id, str) and is_box_id(box_id)):
            raise FixtureError(fixture.file, "`id` must be 32 lowercase hex or letters, digits, '-' and '_'")
        entries = fixture.data.get("messages", [])
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise FixtureError(fixture.file, "`messages` must be a list of objects")
        for entry in entries:
            _audio_path(root, fixture, entry)
            _timestamp(fixture, entry, 0)
    return found


def _read_kind(root: Path, kind: str) -> list[Fixture]:
    fixtures = []
    for file in sorted((root / kind).glob("*.json")):
        try:
            data = json.loads(file.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise FixtureError(file, f"not valid JSON ({error})") from None
        if not isinstance(data, dict):
            raise FixtureError(file, "must hold one JSON object")
        fixtures.append(Fixture(file.stem, file, data))
    return fixtures


def _audio_path(root: Path, fixture: Fixture, spec: JSON) -> Path | None:
    name = spec.get("audio")
    if name is None:
        return None
    if not isinstance(name, str) or not (root / name).is_file():
        raise FixtureError(fixture.file, f"audio file {name!r} not found under {root}")
    return root / name


def _timestamp(fixture: Fixture, spec: JSON, now: int) -> int | None:
    age, timestamp = spec.get("age"), spec.get("timestamp")
    for key, value in (("age", age), ("timestamp", timestamp)):
        if value is not None and (not is_whole_number(value) or value < 0):
            raise FixtureError(fixture.file, f"`{key}` must be a whole number of seconds")
    if age is not None:
        return now - age
    return timestamp


async def _audio(fixtures: Fixtures, fixture: Fixture, spec: JSON) -> AudioFile | None:
    path = _audio_path(fixtures.root, fixture, spec)
    if path is None:
        return None
    content_type = spec.get("content_type") or (await probe(path)).content_type \
        or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return AudioFile(path, content_type, path.stat().st_size, path.name)


async def load(voicemail: Voicemail, fixtures: Fixtures, account: Account) -> Loaded:
    """Write boxes, then legacy boxes, then messages into `account`. A failure names the file; what was
    written before it stays."""
    loaded = Loaded()
    for fixture in fixtures.boxes:
        with _blame(fixture):
            loaded.boxes[fixture.name] = (await voicemail.boxes.create(account, fixture.data, ACTOR)).box["id"]
    for fixture in fixtures.legacy:
        with _blame(fixture):
            loaded.legacy[fixture.name] = await _legacy_box(voicemail, fixtures, fixture, account)
    for fixture in fixtures.messages:
        fields = {key: value for key, value in fixture.data.items() if key not in LOADER_KEYS}
        timestamp = _timestamp(fixture, fixture.data, gregorian_now())
        if timestamp is not None:
            fields["timestamp"] = timestamp
        box_id = loaded.boxes.get(fixture.data["box"], fixture.data["box"])
        with _blame(fixture):
            audio = await _audio(fixtures, fixture, fixture.data)
            metadata = await voicemail.message.create(account, box_id, fields, ACTOR, audio)
        loaded.messages[fixture.name] = metadata["media_id"]
    return loaded


async def _legacy_box(voicemail: Voicemail, fixtures: Fixtures, fixture: Fixture, account: Account) -> JSON:
    """A 3.x vmbox with its `messages` array, and a private_media document with the audio of each entry."""
    store, now = voicemail.store, gregorian_now()
    box_id, mailbox = fixture.data.get("id") or new_id(), fixture.data.get("mailbox", "")
    entries = []
    for spec in fixture.data.get("messages", []):
        media_id = spec.get("media_id") or new_id()
        timestamp = _timestamp(fixture, spec, now) or now
        entry = {key: value for key, value in spec.items() if key not in LOADER_KEYS}
        entries.append({**entry, "media_id": media_id, "timestamp": timestamp})
        audio = await _audio(fixtures, fixture, spec)
        if audio is None:
            continue
        name = f"{media_id}{audio.path.suffix or '.wav'}"
        media = await store.put(account.db, {
            "_id": media_id, "pvt_type": "private_media", "name": f"mailbox {mailbox} message {media_id}",
            "description": "voicemail message media", "source_type": "voicemail", "source_id": box_id,
            "media_source": "recording", "media_filename": name, "streamable": True,
            "pvt_account_id": account.id, "pvt_account_db": encoded(account.db), "pvt_created": timestamp,
            "pvt_modified": timestamp})
        await store.put_attachment(account.db, media_id, media["_rev"], name, audio.content_type, audio.path,
                                   audio.size)
    fields = {key: value for key, value in fixture.data.items()
              if key not in ("id", "messages") and not key.startswith(("_", "pvt_"))}
    await store.put(account.db, {
        **fields, "_id": box_id, "pvt_type": "vmbox", "pvt_account_id": account.id,
        "pvt_account_db": encoded(account.db), "pvt_vsn": "1", "pvt_created": now, "pvt_modified": now,
        "messages": entries})
    return {"box": box_id, "media_ids": [entry["media_id"] for entry in entries]}


@contextmanager
def _blame(fixture: Fixture) -> Iterator[None]:
    """A domain error while loading a file becomes a FixtureError naming that file."""
    try:
        yield
    except FixtureError:
        raise
    except Conflict:
        raise FixtureError(fixture.file, "a document with this id exists already") from None
    except VoicemailError as error:
        detail = json.dumps(error.data, sort_keys=True) if error.data else ""
        raise FixtureError(fixture.file, f"{error.message} {detail}".strip()) from error
