"""The OpenAPI 3.1 document, built from the route table: each handler carries a short description
(`@describe`), Kazoo's JSON schemas come from `schemas/` (converted from draft-04), and the shared
pieces (envelopes, errors, paging parameters) from `schemas/openapi/components.json`.
A registered route without a description makes the build fail."""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, TypeVar

from aiohttp import web

from .. import __version__
from .._data import json_documents
from ..storage.dbnames import ACCOUNT_ID
from ..voicemail.ids import BOX_ID, LEGACY_MESSAGE_ID, MESSAGE_ID, RESERVED
from ..voicemail.validation import SCHEMAS_DIR

JSON = dict[str, Any]
Handler = TypeVar("Handler", bound=Callable[..., Any])
DESCRIPTION = "__openapi__"
COMPONENTS = SCHEMAS_DIR / "openapi" / "components.json"
PATH_PARAMETERS: dict[str, JSON] = {
    "account_id": {"type": "string", "pattern": ACCOUNT_ID.pattern},
    "box_id": {"type": "string", "pattern": BOX_ID.pattern, "not": {"enum": sorted(RESERVED)}},
    "hook_id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
    "sample": {"type": "string", "description": "A hook name: `object`, `notifications`"},
    "message_id": {"type": "string",
                   "anyOf": [{"pattern": MESSAGE_ID.pattern}, {"pattern": LEGACY_MESSAGE_ID.pattern}]},
}
# Query parameters of listings (components/parameters of schemas/openapi/components.json).
PAGING = ("page_size", "start_key", "paginate")
FILTERS = ("filters", "has_key", "key_missing", "has_value", "value_missing")
WINDOW = ("created_from", "created_to", "ascending", "descending")
AUDIO_TYPES = ("audio/mpeg", "audio/wav", "audio/mp4", "audio/ogg", "application/octet-stream", "audio/*")
JSON_TYPE = "application/json"


class UndescribedRoute(Exception):
    """A registered route whose handler has no `@describe`."""


@dataclass(frozen=True)
class Body:
    """A request body. json: `{"data": <schema>}`; upload: that JSON, audio, or multipart with both;
    audio: audio, or multipart with it."""
    kind: Literal["json", "upload", "audio"]
    schema: str | None = None
    required: bool = True
    partial: bool = False  # the schema without its `required` list (PATCH)


@dataclass(frozen=True)
class Operation:
    summary: str
    data: JSON | None = None
    status: int = 200
    answers: Mapping[int, str] = field(default_factory=dict)
    query: tuple[str, ...] = ()
    body: Body | None = None
    errors: tuple[int, ...] = ()
    auth: bool = True
    storage: bool = True
    paged: bool = False
    headers: tuple[str, ...] = ()
    produces: Mapping[str, str] = field(default_factory=dict)


def describe(summary: str, **fields: Any) -> Callable[[Handler], Handler]:
    """Describe a handler (the fields of Operation). `data`: schema of the envelope's `data`; `answers`:
    non-envelope successes by status (component responses); `errors`: statuses besides those every route
    of its kind answers (auth 401/403/404, storage 503, body 400/413, upload 415); `produces`: path
    parameters a success gives (a runtime expression), linked to every operation that takes them."""
    operation = Operation(summary, **fields)

    def mark(handler: Handler) -> Handler:
        setattr(handler, DESCRIPTION, operation)
        return handler
    return mark


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def items(name: str) -> JSON:
    return {"type": "array", "items": ref(name)}


# Kazoo's draft-04 schemas -> JSON Schema 2020-12 as OpenAPI 3.1 takes it.
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONE = ("additionalProperties", "not", "additionalItems", "contains", "propertyNames")


def convert(schema: Any) -> Any:
    """Drop `$schema`/`_id`/`id`, point name refs at components, turn draft-04 booleans of
    exclusiveMinimum/Maximum and list `items` into their 2020-12 forms."""
    if not isinstance(schema, dict):
        return schema
    out: JSON = {}
    for key, value in schema.items():
        if key in ("$schema", "_id", "id") or (key == "required" and isinstance(value, bool)):
            continue
        if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
            out[key] = f"#/components/schemas/{value.removesuffix('.json')}"
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out["$defs" if key == "definitions" else key] = {name: convert(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [convert(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            out[key] = convert(value)
        elif key == "items":
            out["prefixItems" if isinstance(value, list) else "items"] = \
                [convert(sub) for sub in value] if isinstance(value, list) else convert(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = key.removeprefix("exclusive").lower()
            if value and bound in schema:
                out[key] = schema[bound]
        else:
            out[key] = value
    for bound in ("minimum", "maximum"):
        if schema.get(f"exclusive{bound.capitalize()}") is True:
            out.pop(bound, None)
    return out


@cache
def _sources() -> tuple[JSON, JSON]:
    """(components.json, Kazoo's schemas converted), read once."""
    shared = json.loads(COMPONENTS.read_text())
    kazoo = {name: convert(schema) for name, schema in json_documents(SCHEMAS_DIR).items()}
    return shared, kazoo


def _components(partials: Iterable[str]) -> JSON:
    shared, kazoo = copy.deepcopy(_sources())
    errors = shared.pop("errors")
    schemas = {**kazoo, **shared["schemas"]}
    for name in partials:
        schemas[f"{name}.partial"] = {key: value for key, value in kazoo[name].items() if key != "required"}
    responses = shared["responses"]
    for status, error in errors.items():
        headers = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
        headers.update({name: {"$ref": f"#/components/headers/{name}"} for name in error.get("headers", ())})
        schema = {"allOf": [ref("Error")], "properties": {
            "error": {"const": status}, "data": error.get("data", ref("Reason"))}}
        responses[status] = {"description": error["description"], "headers": headers,
                             "content": {JSON_TYPE: {"schema": schema}}}
    for response in responses.values():
        response.setdefault("headers", {}).setdefault("X-Request-ID", {"$ref": "#/components/headers/X-Request-ID"})
    return {"schemas": schemas, "parameters": shared["parameters"], "headers": shared["headers"],
            "responses": responses, "securitySchemes": shared["securitySchemes"]}


def _request_body(body: Body) -> JSON:
    envelope = {"type": "object", "properties": {
        "data": ref(f"{body.schema}.partial" if body.partial else body.schema) if body.schema else {"type": "object"}}}
    if body.required:
        envelope["required"] = ["data"]
    binary = {"schema": ref("Audio")}
    multipart = {"schema": {"type": "object", "properties": {"file": ref("Audio")}, "additionalProperties": False},
                 "encoding": {"file": {"contentType": ", ".join(AUDIO_TYPES)}}}
    content: JSON = {}
    if body.kind in ("json", "upload"):
        content[JSON_TYPE] = {"schema": envelope}
    if body.kind in ("upload", "audio"):
        if body.kind == "upload":
            multipart["schema"]["properties"]["data"] = envelope
            multipart["encoding"]["data"] = {"contentType": JSON_TYPE}
        content.update({kind: copy.deepcopy(multipart) for kind in ("multipart/form-data", "multipart/mixed")})
        content.update({kind: binary for kind in AUDIO_TYPES})
    return {"required": body.required and body.kind != "upload", "content": content}


def _errors(operation: Operation) -> set[int]:
    statuses = set(operation.errors)
    if operation.auth:
        statuses |= {401, 403, 404}
    if operation.storage:
        statuses.add(503)
    if operation.body is not None:
        statuses |= {400, 413}
        if operation.body.kind != "json":
            statuses.add(415)
    return statuses


def _success(operation: Operation) -> JSON:
    schema: JSON = {"allOf": [ref("Envelope")]}
    if operation.paged:
        schema["allOf"].append(ref("Paging"))
    if operation.data is not None:
        schema["properties"] = {"data": operation.data}
    headers = {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}}
    headers.update({name: {"$ref": f"#/components/headers/{name}"} for name in operation.headers})
    return {"description": operation.summary, "headers": headers, "content": {JSON_TYPE: {"schema": schema}}}


def _parameters(path: str, operation: Operation) -> list[JSON]:
    parameters: list[JSON] = [{"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
                              for name in re.findall(r"{(\w+)}", path)]
    return parameters + [{"$ref": f"#/components/parameters/{name}"} for name in operation.query]


def _operation(method: str, path: str, name: str, operation: Operation) -> JSON:
    responses: dict[str, Any] = {}
    if operation.data is not None or not operation.answers:
        responses[str(operation.status)] = _success(operation)
    for status, response in operation.answers.items():
        responses[str(status)] = {"$ref": f"#/components/responses/{response}"}
    for status in sorted(_errors(operation)):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
    out: JSON = {"operationId": name, "summary": operation.summary, "parameters": _parameters(path, operation),
                 "responses": dict(sorted(responses.items())),
                 "security": [{"token": []}, {"token_query": []}] if operation.auth else []}
    if operation.body is not None:
        out["requestBody"] = _request_body(operation.body)
    if not out["parameters"]:
        del out["parameters"]
    if method == "HEAD":
        out["operationId"] = f"head_{name}"
        out["summary"] = f"Headers of: {operation.summary[0].lower()}{operation.summary[1:]}"
        out["responses"] = {status: _without_content(response) for status, response in out["responses"].items()}
    return out


def _without_content(response: JSON) -> JSON:
    if "$ref" in response:
        return {"description": "As the GET answer, without a body"}
    return {key: value for key, value in response.items() if key != "content"}


def _link(target: JSON, method: str, path: str, produced: str, expression: str, source_path: str) -> JSON | None:
    """A link from an answer giving `produced` to an operation whose path takes it."""
    names = re.findall(r"{(\w+)}", path)
    given = set(re.findall(r"{(\w+)}", source_path))
    if produced not in names or not set(names) <= given | {produced}:
        return None
    parameters = {f"path.{name}": expression if name == produced else f"$request.path.{name}" for name in names}
    return {"operationId": target["operationId"], "parameters": parameters}


def _add_links(paths: JSON, described: list[tuple[str, str, JSON, Operation]]) -> None:
    for method, path, source, operation in described:
        for produced, expression in operation.produces.items():
            links = {}
            for target_method, target_path, target, _ in described:
                if target is source or target_method == "HEAD":
                    continue
                link = _link(target, target_method, target_path, produced, expression, path)
                if link is not None:
                    links[target["operationId"]] = link
            if links:
                paths[path][method.lower()]["responses"][str(operation.status)]["links"] = links


def document(app: web.Application) -> JSON:
    """The OpenAPI document of every route of `app`; UndescribedRoute when a handler has no description."""
    paths: JSON = {}
    described: list[tuple[str, str, JSON, Operation]] = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        operation = getattr(route.handler, DESCRIPTION, None)
        if not isinstance(operation, Operation):
            raise UndescribedRoute(f"{route.method} {path} ({getattr(route.handler, '__qualname__', route.handler)}) "
                                   "has no @openapi.describe")
        built = _operation(route.method, path, route.handler.__name__, operation)
        paths.setdefault(path, {})[route.method.lower()] = built
        described.append((route.method, path, built, operation))
    _add_links(paths, described)
    return {
        "openapi": "3.1.0",
        "info": {"title": "kazoo-vm", "version": __version__,
                 "description": "Kazoo's voicemail API (vmboxes and messages) served from CouchDB. Every JSON answer "
                                "is Crossbar's envelope; errors are Crossbar's error envelope."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": _components({operation.body.schema for *_, operation in described
                                   if operation.body and operation.body.partial and operation.body.schema}),
    }


DOCUMENT = web.AppKey("openapi_document", dict)
@describe("This OpenAPI document", answers={200: "Document"}, auth=False, storage=False)
async def openapi(request: web.Request) -> web.Response:
    cached = request.app[DOCUMENT]
    if not cached:
        cached.update(document(request.app))
    return web.json_response(cached)
