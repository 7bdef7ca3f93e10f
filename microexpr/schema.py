"""The configuration schema (``microexpr/schemas/config.schema.yaml``, package data, so that commands and
the workflow read it from an installed package too): the file, the choices the registries own, and the
reference page made from it (docs/config-reference.md). Validation is :mod:`microexpr.config`'s.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: the schema in 0.02 s, not 0.18 s


def load_yaml(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_SAFE_LOADER)


def subschema(schema: Mapping, path: tuple[str, ...]) -> Mapping | None:
    node = schema
    for key in path:
        props = node.get("properties", {}) if isinstance(node, Mapping) else {}
        if key not in props:
            return None
        node = props[key]
    return node


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"))


def _parameters_schema(defaults: Mapping) -> dict:
    """A schema section for a registered method's parameters, typed by their defaults."""
    def kind(v):
        return next((name for t, name in _JSON_TYPES if isinstance(v, t)), "null")

    return {"type": "object", "additionalProperties": False, "default": {},
            "properties": {k: {"type": kind(v), "default": v} for k, v in defaults.items()}}


def registry_choices(schema: Mapping) -> dict:
    """The schema with its registry-owned choices filled from the registries, so that what a module
    registers is configurable: ``dataset.format`` (the registered dataset formats), ``flow.method`` and a
    ``flow.<method>`` section for a method the file does not describe (typed by its defaults),
    ``train.streams`` (the model-input streams at the image size, :func:`microexpr.streams.image_streams`)
    and, where the model registry is loaded (registering a model loads it), ``train.model``. The file
    lists the built-in choices for readers; a test keeps it equal to the registries."""
    import sys

    from .datasets import format_names
    from .flow import FLOW_METHODS
    from .streams import image_streams

    schema = copy.deepcopy(dict(schema))
    fmt = subschema(schema, ("dataset", "format"))
    if fmt is not None:
        names = format_names()
        single, several = fmt["anyOf"]
        single["enum"] = [*names, "manifest"]
        several["items"]["enum"] = names
    flow = subschema(schema, ("flow",))
    if flow is not None:
        flow["properties"]["method"]["enum"] = list(FLOW_METHODS)
        for name, method in FLOW_METHODS.items():
            flow["properties"].setdefault(name, _parameters_schema(method.defaults))
    streams = subschema(schema, ("train", "streams"))
    if streams is not None:
        streams["items"]["enum"] = list(image_streams())
    model = subschema(schema, ("train", "model"))
    models = sys.modules.get("microexpr.models")
    if model is not None and models is not None:  # the registered models, then the file's hand-crafted methods
        registered = models.fold_models()
        model["enum"] = [*registered, *(m for m in model["enum"] if m not in registered)]
    return schema


def reference_markdown(schema: Mapping) -> str:
    """The configuration reference page (docs/config-reference.md), made from the schema's types,
    defaults and descriptions: ``python -m microexpr config-reference > docs/config-reference.md``."""
    import json

    def kind(node: Mapping) -> str:
        if "enum" in node:
            return ", ".join(f"`{v}`" for v in node["enum"])
        if "anyOf" in node:
            return " or ".join(kind(alt) for alt in node["anyOf"])
        t = node.get("type", "")
        t = " or ".join(t) if isinstance(t, list) else t
        if t == "array" and "items" in node:
            return f"list of {kind(node['items'])}"
        return t

    def cell(text: str) -> str:
        return " ".join(str(text).split()).replace("|", "\\|")

    lines = ["# Configuration reference", "",
             "Made from `microexpr/schemas/config.schema.yaml` (`microexpr config-reference`); a test "
             "keeps this page equal to it. The defaults are those of a configuration that leaves the key out; "
             "`config/config.yaml` sets some differently for the CPU demo.", ""]
    for name, node in schema.get("properties", {}).items():
        lines += [f"## {name}", ""]
        if node.get("description"):
            lines += [cell(node["description"]), ""]
        props = node.get("properties")
        if not props:
            lines += [f"Type {kind(node)}; default `{json.dumps(node.get('default'))}`.", ""]
            continue
        lines += ["| key | type | default | what it does |", "| --- | --- | --- | --- |"]
        for key, sub in props.items():
            default = json.dumps(sub.get("default")) if "default" in sub else ""
            lines.append(f"| `{name}.{key}` | {cell(kind(sub))} | `{cell(default)}` | {cell(sub.get('description', ''))} |")
        lines.append("")
    return "\n".join(lines)

