"""Settings classes that own each setting once: a dataclass field made with :func:`setting` carries its
default, a description and its constraints (choices, bounds, the rest of its JSON-schema node), and from
the class come its configuration-schema section (:func:`section_schema`, written into
``microexpr/schemas/config.schema.yaml`` by ``microexpr schema``), the checks of its values
(:func:`problems`) and command-line options (:func:`add_arguments` / :func:`from_arguments`).

Torch-free and pandas-free: the command line and the workflow's planning import it.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

_BOUNDS = {"minimum": (lambda v, b: v >= b, "at least"), "maximum": (lambda v, b: v <= b, "at most"),
           "exclusiveMinimum": (lambda v, b: v > b, "above"), "exclusiveMaximum": (lambda v, b: v < b, "below")}


_UNSET = object()


def setting(default: Any, doc: str = "", *, choices: tuple | str | None = None, cli: bool = True,
            workflow_default: Any = _UNSET, **schema: Any) -> Any:
    """A dataclass field: ``default``; ``doc`` (the schema's description, the option's help);
    ``choices`` (a tuple, or the name of a registry whose names the schema writer fills in:
    :data:`microexpr.schema.NAMED_CHOICES`, as ``enum: <name>`` inside ``items`` / ``anyOf`` too);
    ``cli=False`` keeps it off the command line; other keywords are JSON-schema keywords
    (``minimum=1``, ``items={...}``, ``anyOf=[...]``) that replace the node made from the type;
    ``workflow_default``: the schema's default where the workflow's differs from the
    library's."""
    metadata = {"doc": doc, "choices": choices, "cli": cli, "schema": schema, "workflow_default": workflow_default}
    if isinstance(default, (list, dict)):
        raise TypeError("a setting's default must be immutable (a tuple, not a list)")
    return dataclasses.field(default=default, metadata=metadata)


def _named(node: Any, resolve: Callable[[str], list]) -> Any:
    """``node`` with every ``enum: <registry name>`` replaced by that registry's names."""
    if isinstance(node, dict):
        return {k: (resolve(v) if k == "enum" and isinstance(v, str) else _named(v, resolve)) for k, v in node.items()}
    if isinstance(node, list):
        return [_named(v, resolve) for v in node]
    return node


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _json_type(hint: Any) -> tuple[str | list[str], Any]:
    """The JSON type of a field's annotation (and the item type of a tuple)."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [_json_type(a)[0] for a in args if a is not type(None)]
        return ([*kinds, "null"] if type(None) in args else kinds), None
    origin = typing.get_origin(hint) or hint
    if origin in (tuple, list):
        return "array", (args[0] if args else None)
    return {bool: "boolean", int: "integer", float: "number", str: "string"}.get(origin, "object"), None


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def field_schema(field: dataclasses.Field, hint: Any, resolve: Callable[[str], list]) -> dict:
    """The JSON-schema node of one setting (``resolve``: a registry's names by its name)."""
    kind, item = _json_type(hint)
    extra = _named(dict(field.metadata.get("schema", {})), resolve)
    choices = field.metadata.get("choices")
    choices = resolve(choices) if isinstance(choices, str) else (list(choices) if choices is not None else None)
    node: dict[str, Any] = {}
    if "anyOf" not in extra:
        if isinstance(kind, list) and choices is not None:  # "a choice or null"
            node["anyOf"] = [{"type": kind[0], "enum": choices}, {"type": "null"}]
        else:
            node["type"] = kind
            if kind == "array" and item is not None and "items" not in extra:
                node["items"] = {"type": _json_type(item)[0], **({"enum": choices} if choices is not None else {})}
            elif choices is not None:
                node["enum"] = choices
    node.update(extra)
    if field.metadata.get("doc"):
        node["description"] = field.metadata["doc"]
    own = field.metadata.get("workflow_default", _UNSET)
    node["default"] = _plain(field.default if own is _UNSET else own)
    return node


def section_schema(cls, description: str, resolve: Callable[[str], list], skip: tuple[str, ...] = ()) -> dict:
    """The configuration-schema section of a settings class (fields in ``skip`` come from elsewhere)."""
    hints = _hints(cls)
    return {"type": "object", "additionalProperties": False, "default": {}, "description": description,
            "properties": {f.name: field_schema(f, hints[f.name], resolve) for f in dataclasses.fields(cls)
                           if f.name not in skip}}


def problems(obj) -> list[str]:
    """What is wrong with a settings object's values, by each field's fixed choices and bounds (checks
    across fields stay with the class)."""
    found = []
    for f in dataclasses.fields(obj):
        value, choices, bounds = getattr(obj, f.name), f.metadata.get("choices"), f.metadata.get("schema", {})
        if value is None:
            continue
        if isinstance(choices, tuple) and not isinstance(value, tuple) and value not in choices:
            found.append(f"{f.name} must be one of {', '.join(map(str, choices))}, got {value!r}")
        for key, (ok, sign) in _BOUNDS.items():
            if key in bounds and isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and not ok(value, bounds[key]):
                found.append(f"{f.name} must be {sign} {bounds[key]}, got {value!r}")
    return found


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls, types_: Mapping[str, Callable] | None = None,
                  flags: Mapping[str, str] | None = None) -> None:
    """One option per setting of ``cls`` (not those made with ``cli=False``): its type, choices,
    default and help from the field; a boolean that defaults to true becomes ``--no-<name>``.
    ``types_`` replaces an option's type (e.g. a registry check); ``flags`` its spelling."""
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("cli", True):
            continue
        flag = (flags or {}).get(f.name) or _option(f.name)
        doc = f.metadata.get("doc") or f.name.replace("_", " ")
        kind = _json_type(hints[f.name])[0]
        if kind == "boolean":
            if f.default:
                parser.add_argument(flag if flags and f.name in flags else "--no-" + f.name.replace("_", "-"),
                                    dest=f.name, action="store_false", help=f"off: {doc} (on by default)")
            else:
                parser.add_argument(flag, dest=f.name, action="store_true", help=doc)
            continue
        convert = (types_ or {}).get(f.name) or {"integer": int, "number": float}.get(kind, str)
        choices = f.metadata.get("choices")
        parser.add_argument(flag, dest=f.name, type=convert, default=f.default, help=doc,
                            choices=list(choices) if isinstance(choices, tuple) else None)


def from_arguments(cls, args: argparse.Namespace, **overrides):
    """The settings object of ``cls`` from the options :func:`add_arguments` made."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if f.metadata.get("cli", True)}
    return cls(**{**values, **overrides})
