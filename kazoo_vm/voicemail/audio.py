"""Audio files: what a content type means, what a file really is, and how long it plays."""
from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen.flac import FLAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

EXTENSIONS = {
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/x-mp3": "mp3", "audio/mpeg3": "mp3",
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
    "audio/mp4": "mp4", "audio/x-m4a": "m4a", "audio/m4a": "m4a", "audio/aac": "m4a",
    "audio/ogg": "ogg", "audio/x-ogg": "ogg", "application/ogg": "ogg",
}
UPLOAD_TYPES = set(EXTENSIONS) | {"application/octet-stream", "audio/x-flac", "audio/flac", "audio/webm"}
MIME_OF_KIND = {"MP3": "audio/mpeg", "WAVE": "audio/wav", "MP4": "audio/mp4", "OggVorbis": "audio/ogg",
                "OggOpus": "audio/ogg", "OggSpeex": "audio/ogg", "OggFLAC": "audio/ogg", "FLAC": "audio/flac"}
EXTENSION_OF_MIME = {"audio/mpeg": "mp3", "audio/wav": "wav", "audio/mp4": "mp4", "audio/ogg": "ogg",
                     "audio/flac": "flac"}


@dataclass
class AudioFile:
    """An uploaded recording, spooled to a file so that it is never held in memory."""
    path: Path
    content_type: str
    size: int
    filename: str | None = None

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@dataclass(frozen=True)
class Probe:
    content_type: str | None
    duration_ms: int | None


def is_upload_type(content_type: str) -> bool:
    return content_type in UPLOAD_TYPES or content_type.startswith("audio/")


# Formats with a strict header first: MP3 frame sync can be "found" inside other files.
STRICT_FIRST = (WAVE, MP4, OggVorbis, OggOpus, FLAC, MP3)


def _open(path: Path):
    """mutagen's guess, else each format in turn (a bare MP3 without ID3 and no file extension
    is not guessed)."""
    try:
        found = mutagen.File(path)
    except Exception:  # noqa: BLE001 - mutagen raises many kinds for files it cannot read
        found = None
    if found is not None:
        return found
    for kind in STRICT_FIRST:
        try:
            return kind(path)
        except Exception:  # noqa: BLE001
            continue
    return None


def _probe(path: Path) -> Probe:
    found = _open(path)
    if found is None or getattr(found, "info", None) is None:
        return Probe(None, None)
    length = getattr(found.info, "length", None)
    duration = round(length * 1000) if isinstance(length, (int, float)) and length > 0 else None
    return Probe(MIME_OF_KIND.get(type(found).__name__), duration)


async def probe(path: Path) -> Probe:
    """What the file is and how many milliseconds it plays (mp3, wav, mp4/m4a, ogg), read from the file."""
    return await asyncio.to_thread(_probe, path)


def extension(content_type: str) -> str:
    return EXTENSIONS.get(content_type) or EXTENSION_OF_MIME.get(content_type) or "bin"


def clean_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120].lstrip("._") or "audio"  # CouchDB refuses names starting with _


def attachment_name(content_type: str, given: str | None, now: int) -> str:
    """Kazoo's names: the client's `filename` cleaned, else `uploaded_file_<gregorian now>.<ext>`."""
    if given:
        name = clean_filename(given)
        return name if "." in name else f"{name}.{extension(content_type)}"
    return f"uploaded_file_{now}.{extension(content_type)}"


async def identify(audio: AudioFile) -> Probe:
    """Probe an upload; a generic `application/octet-stream` becomes the type the file really is."""
    found = await probe(audio.path)
    if audio.content_type == "application/octet-stream" and found.content_type:
        audio.content_type = found.content_type
    return found
