"""The custom resources against the schemas vendored in crd_schemas/ (README.md there names their source,
release and license), with jsonschema. Strict: an object schema that lists its properties and says nothing
of others gets `additionalProperties: false`, so a field the schema does not declare (one the API server
would prune) is an error, as kubectl's own validation makes it."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

Doc = dict[str, Any]

SCHEMAS = Path(__file__).resolve().parent / "crd_schemas"
# (apiVersion, kind) -> its schema file
VENDORED = {("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_v1_servicemonitor.json"}


def strict(schema: Any) -> Any:
    """`schema` with additionalProperties false on every object schema that lists properties and no rule
    for others (x-kubernetes-preserve-unknown-fields or additionalProperties of its own)."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: strict(value) for key, value in schema.items()}
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        closed["additionalProperties"] = False
    return closed


@functools.cache
def validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator:
    schema = strict(json.loads((SCHEMAS / VENDORED[api_version, kind]).read_text()))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def crd_problems(doc: Doc) -> list[str]:
    """Every error of `doc` against its kind's vendored schema, as `<path>: <message>`."""
    found = []
    for error in validator(doc["apiVersion"], doc["kind"]).iter_errors(doc):
        path = "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in error.absolute_path)
        found.append(f"{path or '.'}: {error.message}")
    return sorted(found)
