"""The OpenAPI document: valid OpenAPI 3.1, in step with the route table, and honoured by the running
service (schemathesis, with a fixed seed and a bounded number of examples per operation)."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from aiohttp import web
from hypothesis.stateful import run_state_machine_as_test
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from kazoo_vm.config import Settings
from kazoo_vm.http import openapi
from kazoo_vm.http.app import make_app
from kazoo_vm.storage.dbnames import is_account_id
from kazoo_vm.voicemail.ids import is_box_id, is_legacy_message_id, message_month

DATA = Path(__file__).parent / "data"
SEED = 20_070_301
MAX_EXAMPLES = 12
STATEFUL_SCENARIOS = 25
STATEFUL_STEPS = 8
# Off: Kazoo's API is lenient (unknown keys kept, bad page sizes of box listings ignored), answers 404 to
# valid ids of nothing, and keeps a deleted message readable (docs/kazoo-behaviour.md §6.10).
CHECKS_OFF = ("positive_data_acceptance", "negative_data_rejection", "use_after_free")


def routes(app: web.Application) -> set[tuple[str, str]]:
    return {(route.method, route.resource.canonical) for route in app.router.routes()}


def operations(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


async def test_document_is_served_without_auth_and_is_valid_openapi_3_1(api):
    response = await api.get("/v2/openapi.json", token=False)
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_every_route_is_in_the_document_and_nothing_else():
    app = make_app(Settings())
    document = openapi.document(app)
    assert operations(document) == routes(app)
    assert ("GET", "/v2/openapi.json") in routes(app)


def test_a_route_without_a_description_fails_the_build():
    app = make_app(Settings())

    async def undocumented(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/v2/undocumented", undocumented)
    with pytest.raises(openapi.UndescribedRoute, match="/v2/undocumented"):
        openapi.document(app)


def test_kazoo_schemas_are_converted_to_json_schema_2020_12():
    schemas = openapi.document(make_app(Settings()))["components"]["schemas"]
    text = json.dumps(schemas)
    assert '"$schema"' not in text and '"_id"' not in text
    assert schemas["vmboxes"]["properties"]["notify"]["properties"]["callback"] == \
        {"$ref": "#/components/schemas/notify.callback"}
    assert "required" not in schemas["vmboxes.partial"] and schemas["vmboxes"]["required"] == ["mailbox", "name"]
    assert openapi.convert({"type": "object", "properties": {"n": {"minimum": 0, "exclusiveMinimum": True}},
                            "items": [{"type": "string"}]}) == \
        {"type": "object", "properties": {"n": {"exclusiveMinimum": 0}}, "prefixItems": [{"type": "string"}]}


def test_every_error_answer_is_a_crossbar_error_with_its_status():
    responses = openapi.document(make_app(Settings()))["components"]["responses"]
    for status in ("400", "401", "403", "404", "405", "409", "413", "415", "416", "503"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema["allOf"] == [{"$ref": "#/components/schemas/Error"}]
        assert schema["properties"]["error"] == {"const": status}


# The contract run: every operation with valid and invalid data, then linked sequences (create a box, then
# act on it; create a message, then act on it). Failures are collected, not raised, so that one run reports
# every distinct one and Hypothesis never replays a sequence against a service whose state has moved on.

class Failures:
    def __init__(self) -> None:
        self.found: dict[tuple[str, str], str] = {}

    def check(self, case: schemathesis.Case, validate: Callable[[], None]) -> None:
        try:
            validate()
        except FailureGroup as group:
            for failure in group.exceptions:
                self.found.setdefault((case.operation.label, failure.title),
                                      f"{case.operation.label}: {group.message}")

    def report(self) -> str:
        return "\n\n".join(self.found.values())


def _config(base_url: str, api: Any) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "base-url": base_url,
        "auth": {"openapi": {"token": {"api_key": api.token}}},
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        "checks": {name: {"enabled": False} for name in CHECKS_OFF},
        "phases": {"stateful": {"inference": {"algorithms": []}}},  # the document's links only
    })


def _settings(**extra: Any) -> hypothesis.settings:
    return hypothesis.settings(database=None, deadline=None, suppress_health_check=list(hypothesis.HealthCheck),
                               phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate], **extra)


@dataclass(frozen=True)
class Fixtures:
    """Two boxes and a message with audio in the first: what generated ids may name besides random ones."""
    boxes: tuple[str, str]
    message: str


async def _fixtures(api: Any) -> Fixtures:
    boxes = ((await api.create_box())["id"], (await api.create_box())["id"])
    response = await api.put(f"/vmboxes/{boxes[0]}/messages", data=(DATA / "short-8k.wav").read_bytes(),
                             headers={"Content-Type": "audio/wav"})
    assert response.status == 201, response.json
    return Fixtures(boxes, response.data["media_id"])


def _within(document: dict, account_id: str, fixtures: Fixtures | None = None) -> dict:
    """The document with `{account_id}` fixed to the test's account (any other is only a 403 or 404);
    with fixtures, every box and message id (in paths and bodies) names one of them."""
    document = json.loads(json.dumps(document))
    real = {"account_id": account_id}
    if fixtures is not None:
        real.update(box_id=fixtures.boxes[0], message_id=fixtures.message)
        schemas = document["components"]["schemas"]
        schemas["MessageIds"]["items"] = {"enum": [fixtures.message]}
        schemas["TargetBoxes"]["anyOf"] = [
            {"enum": [fixtures.boxes[1]]}, {"type": "array", "minItems": 1, "items": {"enum": list(fixtures.boxes)}}]
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                if parameter.get("name") in real:
                    parameter["schema"] = {"enum": [real[parameter["name"]]]}
    return document


def _other_path(case: schemathesis.Case) -> bool:
    """A box id `messages` or a message id `raw` (invalid ids, as the document says) makes the URL one of
    the concrete paths `/vmboxes/messages` or `/messages/raw`, which are other operations."""
    parameters = case.path_parameters or {}
    return parameters.get("box_id") == "messages" or parameters.get("message_id") == "raw"


def _operations(document: dict, config: schemathesis.Config, account_id: str, fixtures: Callable[[], Fixtures],
                failures: Failures) -> None:
    """Each operation with valid then invalid data, then with valid data naming fresh fixtures."""
    plain = schemathesis.openapi.from_dict(_within(document, account_id), config=config)
    for path, item in document["paths"].items():
        for method in item:
            real = schemathesis.openapi.from_dict(_within(document, account_id, fixtures()), config=config)
            for schema, mode in ((plain, GenerationMode.POSITIVE), (plain, GenerationMode.NEGATIVE),
                                 (real, GenerationMode.POSITIVE)):
                operation = schema[path][method]

                @hypothesis.seed(SEED)
                @_settings(max_examples=MAX_EXAMPLES)
                @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
                def run(case: schemathesis.Case) -> None:
                    if _other_path(case):
                        return
                    failures.check(case, case.call_and_validate)

                try:
                    run()
                except hypothesis.errors.Unsatisfiable:
                    pass  # nothing to make invalid: no parameters, no body


def _sequences(schema: Any, failures: Failures) -> int:
    """Linked sequences; returns how many ran. What a step draws depends on the service's earlier answers,
    which Hypothesis may call inconsistent: the run then starts again (a few times at most)."""
    scenarios = 0

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def validate_response(self, response: Any, case: schemathesis.Case, *args: Any, **kwargs: Any) -> None:
            failures.check(case, lambda: super(Sequences, self).validate_response(response, case, *args, **kwargs))

        def teardown(self) -> None:
            nonlocal scenarios
            scenarios += 1
            super().teardown()

    for attempt in range(3):
        try:
            run_state_machine_as_test(hypothesis.seed(SEED + attempt)(Sequences),
                                      settings=_settings(max_examples=STATEFUL_SCENARIOS,
                                                         stateful_step_count=STATEFUL_STEPS))
            break
        except hypothesis.errors.Flaky:
            continue
    return scenarios


def _fuzz(document: dict, base_url: str, api: Any, fixtures: Callable[[], Fixtures]) -> str:
    """Run schemathesis synchronously (in a thread: the service answers on the test's event loop)."""
    config = _config(base_url, api)
    failures = Failures()
    _operations(document, config, api.account_id, fixtures, failures)
    schema = schemathesis.openapi.from_dict(_within(document, api.account_id), config=config)
    assert _sequences(schema, failures) >= STATEFUL_SCENARIOS // 2, "too few linked sequences ran"
    return failures.report()


async def test_the_service_honours_its_document(service, api):
    """No 5xx, no answer the document does not describe, no undocumented status."""
    base_url, _ = service
    document = (await api.get("/v2/openapi.json", token=False)).json
    loop = asyncio.get_running_loop()

    def fixtures() -> Fixtures:
        return asyncio.run_coroutine_threadsafe(_fixtures(api), loop).result()

    report = await asyncio.to_thread(_fuzz, document, base_url, api, fixtures)
    assert not report, report


# What the contract run found, pinned down.

async def test_an_unreadable_multipart_part_header_is_a_400(api):
    box = await api.create_box()
    body = b'--x\r\nContent-Disposition: form-data; name="\xf0\x17"\r\n\r\n{}\r\n--x--\r\n'
    response = await api.put(f"/vmboxes/{box['id']}/messages", data=body,
                             headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert response.status == 400 and "multipart" in response.data


@pytest.mark.parametrize("content_type", ["application/json", "audio/wav"])
async def test_a_body_that_cannot_be_decoded_is_a_400(api, content_type):
    box = await api.create_box()
    response = await api.put(f"/vmboxes/{box['id']}/messages", data=b"not gzip",
                             headers={"Content-Type": content_type, "Content-Encoding": "gzip"})
    assert response.status == 400 and response.data["body"]["invalid"]["target"] == "body"


async def test_an_upload_file_name_starting_with_an_underscore_is_stored(api):
    box = await api.create_box()
    response = await api.put(f"/vmboxes/{box['id']}/messages?filename=%F1%9E%84%BA%C2%801",
                             data=(DATA / "short-8k.wav").read_bytes(), headers={"Content-Type": "audio/wav"})
    assert response.status == 201, response.json
    raw = await api.get(f"/vmboxes/{box['id']}/messages/{response.data['media_id']}/raw")
    assert raw.status == 200 and raw.body == (DATA / "short-8k.wav").read_bytes()


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_messages_raw_answers_post_only(api, method):
    box = await api.create_box()
    response = await api.request(method, f"/vmboxes/{box['id']}/messages/raw")
    assert response.status == 405 and response.headers["Allow"] == "POST"


async def test_an_overlong_api_key_is_refused_without_asking_couchdb(api):
    response = await api.put("/v2/api_auth", json={"data": {"api_key": "k" * 100_000}}, token=False)
    assert response.status == 401


async def test_a_whole_number_written_as_a_float_is_an_integer(api):
    box = await api.create_box(seek_duration_ms=2500.0)
    assert box["seek_duration_ms"] == 2500 and isinstance(box["seek_duration_ms"], int)
    response = await api.put("/vmboxes", json={"data": {"name": "x", "mailbox": "5150", "seek_duration_ms": 2.5}})
    assert response.status == 400 and "type" in response.data["seek_duration_ms"]


def test_an_id_with_a_trailing_newline_is_not_an_id():
    """The document's id patterns end at the end of the string; so do the service's checks."""
    assert not is_box_id("a" * 32 + "\n") and not is_account_id("a" * 32 + "\n")
    assert message_month("202611-" + "a" * 32 + "\n") is None and not is_legacy_message_id("a" * 32 + "\n")
