"""Reading uploads: a JSON body, a raw audio body, or multipart (one JSON part, one audio part).
Audio is spooled to a temporary file chunk by chunk, never held in memory."""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp import BodyPartReader, hdrs, web

from ..voicemail.audio import AudioFile, is_upload_type
from ..voicemail.errors import Invalid
from . import bodies

MAX_PARTS = 8
READ_BYTES = 64 * 1024


@dataclass
class Upload:
    data: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    files: list[AudioFile] = field(default_factory=list)

    def single_file(self, *, required: bool) -> AudioFile | None:
        if len(self.files) > 1:
            raise Invalid({"file": {"maxItems": {"message": "Please provide a single media file"}}})
        if not self.files and required:
            raise Invalid({"file": {"required": {"message": "Please provide a media file"}}})
        return self.files[0] if self.files else None

    def cleanup(self) -> None:
        for audio in self.files:
            audio.remove()


def _mime(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


async def _spool(read_chunk, content_type: str, filename: str | None, limit: int) -> AudioFile | None:
    """Write a stream to a temporary file; None when it is empty."""
    handle, name = tempfile.mkstemp(prefix="kazoo-vm-upload-")
    os.close(handle)
    audio, size = AudioFile(Path(name), content_type, 0, filename), 0
    try:
        async with aiofiles.open(name, "wb") as target:
            while chunk := await read_chunk():
                size += len(chunk)
                if size > limit:
                    raise bodies.TooLarge({"message": f"the recording is larger than {limit} bytes", "target": limit})
                await target.write(chunk)
    except BaseException:
        audio.remove()
        raise
    if size == 0:
        audio.remove()
        return None
    audio.size = size
    return audio


def _json_data(raw: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    body = bodies.loads(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise Invalid({"json": {"invalid": {"message": "a JSON part must be an object", "target": "body"}}},
                      message="invalid json")
    return bodies.data_of(body) if "data" in body else body, body


async def read_upload(request: web.Request, *, json_limit: int, audio_limit: int, query_filename: bool) -> Upload:
    """Whatever a client sent: JSON metadata, audio, or both in one multipart request.
    Content types that are neither -> 415."""
    content_type = _mime(request.headers.get(hdrs.CONTENT_TYPE))
    filename = request.query.get("filename") if query_filename else None
    if bodies.is_json_type(content_type):
        body = await bodies.read_json(request, json_limit)
        return Upload(bodies.data_of(body), body)
    bodies.check_length(request, audio_limit + json_limit)
    if content_type.startswith("multipart/"):
        return await _read_multipart(request, json_limit, audio_limit, filename)
    if is_upload_type(content_type):
        upload = Upload()
        audio = await _spool(lambda: request.content.read(READ_BYTES), content_type, filename, audio_limit)
        if audio is not None:
            upload.files.append(audio)
        return upload
    raise bodies.UnsupportedMediaType({"message": f"content type {content_type} is not accepted here; send "
                                                  "JSON, audio (audio/mpeg, audio/wav, audio/mp4, audio/ogg, "
                                                  "application/octet-stream) or multipart"})


async def _read_multipart(request: web.Request, json_limit: int, audio_limit: int, filename: str | None) -> Upload:
    upload = Upload()
    try:
        reader = await request.multipart()
        count = 0
        while (part := await reader.next()) is not None:
            count += 1
            if count > MAX_PARTS:
                raise Invalid({"multipart": {"maxItems": {"message": f"at most {MAX_PARTS} parts are accepted",
                                                          "target": MAX_PARTS}}})
            if not isinstance(part, BodyPartReader):
                raise Invalid({"multipart": {"invalid": {"message": "nested multipart is not accepted"}}})
            await _read_part(part, upload, json_limit, audio_limit, filename)
    except (Invalid, bodies.TooLarge):
        upload.cleanup()
        raise
    except (ValueError, AssertionError, RuntimeError, LookupError, HttpProcessingError) as exc:
        upload.cleanup()
        raise Invalid({"multipart": {"invalid": {"message": f"the multipart body cannot be read: {exc}"[:200]}}}) \
            from None
    except BaseException:
        upload.cleanup()
        raise
    return upload


async def _read_part(part: BodyPartReader, upload: Upload, json_limit: int, audio_limit: int,
                     filename: str | None) -> None:
    content_type = _mime(part.headers.get(hdrs.CONTENT_TYPE))
    if content_type in ("application/json", "application/x-json") or (not content_type and not part.filename):
        raw = bytearray()
        while chunk := await part.read_chunk(READ_BYTES):
            raw.extend(chunk)
            if len(raw) > json_limit:
                raise bodies.TooLarge({"message": f"the JSON part is larger than {json_limit} bytes"})
        upload.data, upload.body = _json_data(bytes(raw))
        return
    content_type = content_type or "application/octet-stream"
    if not is_upload_type(content_type):
        raise bodies.UnsupportedMediaType({"message": f"a part of type {content_type} is not audio"})
    audio = await _spool(lambda: part.read_chunk(READ_BYTES), content_type, filename or part.filename, audio_limit)
    if audio is not None:
        upload.files.append(audio)
