"""Kazoo's JSON schemas (draft-04) with defaults written into the data, Kazoo's lenient coercion of
integer and boolean strings, and Kazoo's error shape `{field: {rule: {message, ...}}}`."""
from __future__ import annotations

import copy
import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft4Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from .._data import json_documents, schemas_folder
from .errors import Invalid

SCHEMAS_DIR = schemas_folder()
SECRET_FIELDS = {"pin"}
_MISSING = object()
INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def _set_defaults(validator, properties, instance, schema):
    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if isinstance(subschema, dict) and "default" in subschema and name not in instance:
                instance[name] = copy.deepcopy(subschema["default"])
    yield from Draft4Validator.VALIDATORS["properties"](validator, properties, instance, schema)


DefaultingValidator = validators.extend(Draft4Validator, {"properties": _set_defaults})


@cache
def _registry() -> Registry:
    return Registry().with_resources(
        (name, Resource.from_contents(contents, default_specification=DRAFT4))
        for name, contents in json_documents(SCHEMAS_DIR).items())


@cache
def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS_DIR / f"{name}.json").read_text())


def validate(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Validate a copy of data against schema `name`; returns it with defaults applied and
    integer/boolean strings coerced, or raises Invalid with every failing field."""
    data = copy.deepcopy(data)
    validator = DefaultingValidator(schema(name), registry=_registry(), format_checker=FormatChecker(["email"]))
    for _ in range(10):
        errors = list(validator.iter_errors(data))
        if not errors:
            return data
        if not any([_coerce(data, error) for error in errors]):
            break
    raise Invalid(kazoo_errors(errors))


def _coerce(data: dict[str, Any], error: ValidationError) -> bool:
    """Kazoo's non-strict mode: "5000" -> 5000 and "true" -> true where the schema wants them; a whole
    number written as a float (5000.0, which JSON Schema 2020-12 counts as an integer) -> 5000."""
    if error.validator != "type" or not isinstance(error.instance, (str, float)):
        return False
    wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    value: Any = _MISSING
    if isinstance(error.instance, float):
        if "integer" in wanted and error.instance.is_integer():
            value = int(error.instance)
    elif "integer" in wanted and INTEGER_TEXT.fullmatch(text := error.instance.strip()):
        value = int(text)
    elif "boolean" in wanted and error.instance.strip().lower() in ("true", "false"):
        value = error.instance.strip().lower() == "true"
    if value is _MISSING or not error.absolute_path:
        return False
    *parents, last = error.absolute_path
    target: Any = data
    for part in parents:
        target = target[part]
    target[last] = value
    return True


def kazoo_errors(errors: list[ValidationError]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for error in errors:
        path = [str(part) for part in error.absolute_path]
        rule, payload = _describe(error)
        if error.validator == "required":
            path.append(error.message.split("'")[1])
        field = ".".join(path) or "data"
        if field.split(".")[-1] in SECRET_FIELDS or field.split(".")[0] in SECRET_FIELDS:
            payload = {key: value for key, value in payload.items() if key not in ("value", "cause")}
        out.setdefault(field, {})[rule] = payload
    return out


def _describe(error: ValidationError) -> tuple[str, dict[str, Any]]:
    rule, target, value = error.validator, error.validator_value, error.instance
    if rule == "required":
        return rule, {"message": "Field is required but missing"}
    if rule == "type":
        names = ", ".join(target) if isinstance(target, list) else target
        return rule, {"message": f"Value did not match type(s): {names}", "target": target, "value": value}
    if rule == "minLength":
        return rule, {"message": f"String must be at least {target} characters", "target": target,
                      "cause": value, "value": value}
    if rule == "maxLength":
        return rule, {"message": f"String must not be more than {target} characters", "target": target,
                      "cause": value, "value": value}
    if rule == "enum":
        return rule, {"message": "Value not found in enumerated list of values", "target": target, "value": value}
    if rule == "minimum":
        return rule, {"message": f"Value must be at least {target}", "target": target, "value": value}
    if rule == "maximum":
        return rule, {"message": f"Value must be at most {target}", "target": target, "value": value}
    if rule == "format":
        return "wrong_format", {"message": "Field is not in the correct format", "format": target, "value": value}
    if rule == "minItems":
        return rule, {"message": f"The list is not at least {target} items", "target": target}
    if rule == "maxItems":
        return rule, {"message": f"The list is more than {target} items", "target": target}
    return str(rule), {"message": error.message, "target": target}
