"""Configuration validation against a JSON schema (YAML), with messages that name the key at fault.

Snakemake hands ``--config`` values to the workflow untyped in places: a top-level ``alpha=8`` is
parsed as an int, but a nested ``evm="{alpha: 8}"`` arrives as the string ``'8'``. Values that came
from the command line are therefore cast to the type the schema asks for *before* validation, while
values written in a YAML file are taken as written (``alpha: "8"`` in a file is an error).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import MicroexprError
from .schema import SCHEMA_PATH, load_yaml, registry_choices, subschema as _subschema  # noqa: F401  (SCHEMA_PATH)



class ConfigError(MicroexprError):
    """The configuration does not match its schema; the message lists every key at fault."""


def typed_section(cls, values: Mapping, section: str):
    """A configuration section as its library dataclass (``EVMSettings``, ``TrainConfig``, ...), which
    owns the defaults; a key the dataclass does not know is an error naming it."""
    import dataclasses

    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"config section '{section}': unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})")
    return cls(**values)


def _types(node: Mapping) -> set[str]:
    t = node.get("type", [])
    types = {t} if isinstance(t, str) else set(t)
    for alt in node.get("anyOf", []) + node.get("oneOf", []):
        types |= _types(alt)
    return types


def _cast_cli_value(value: str, node: Mapping) -> Any:
    types = _types(node)
    if types & {"integer", "number", "boolean", "null", "array"}:
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(parsed, bool) and "boolean" in types:
            return parsed
        if isinstance(parsed, int) and not isinstance(parsed, bool) and types & {"integer", "number"}:
            return parsed
        if isinstance(parsed, float) and "number" in types:
            return parsed
        if parsed is None and "null" in types:
            return None
        if isinstance(parsed, list) and "array" in types:
            return parsed
    return value


def coerce_cli_overrides(config: dict, overrides: Mapping, schema: Mapping, _path: tuple = ()) -> None:
    """Cast string leaves of ``overrides`` (the ``--config`` values) to the schema's type, in ``config``."""
    for key, value in overrides.items():
        path = _path + (key,)
        if isinstance(value, Mapping):
            coerce_cli_overrides(config, value, schema, path)
        elif isinstance(value, (str, list)):
            node = _subschema(schema, path)
            if node is None:
                continue
            target = config
            for k in path[:-1]:
                target = target.get(k) if isinstance(target, dict) else None
                if target is None:
                    break
            if isinstance(target, dict) and target.get(key) == value:
                target[key] = (_cast_cli_value(value, node) if isinstance(value, str)
                               else _cast_items(value, node, schema))


def _resolve(node: Mapping, root: Mapping | None) -> Mapping:
    """``node`` with a local ``$ref`` (``#/properties/...``) followed."""
    ref = node.get("$ref") if isinstance(node, Mapping) else None
    if not ref or root is None or not ref.startswith("#/"):
        return node
    target = root
    for part in ref[2:].split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _object_schema(items: Mapping, root: Mapping | None) -> Mapping:
    """The schema a mapping list item follows: ``items`` itself, or its object alternative (``anyOf``)."""
    items = _resolve(items, root)
    alt = next((a for a in items.get("anyOf", []) if a.get("type") == "object"), None)
    return _resolve(alt, root) if alt is not None else items


def _cast_items(values: list, node: Mapping, root: Mapping | None = None) -> list:
    """List items from the command line arrive as text too (``seeds: [0, 1]`` -> ``['0', '1']``), also
    inside mappings that are list items (``ensemble: [{max_epochs: 2}]``)."""
    items = _resolve(node.get("items", {}), root)

    def cast(v):
        if isinstance(v, str):
            return _cast_cli_value(v, items)
        if isinstance(v, list):
            return _cast_items(v, items, root)
        if isinstance(v, dict):
            props = _object_schema(items, root).get("properties", {})
            return {k: cast_in(x, _resolve(props[k], root)) if k in props else x for k, x in v.items()}
        return v

    def cast_in(x, sub):
        if isinstance(x, str):
            return _cast_cli_value(x, sub)
        if isinstance(x, list):
            return _cast_items(x, sub, root)
        return x

    return [cast(v) for v in values]


_NUMBER_TEXT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)")


def coerce_number_text(instance: Any, schema: Mapping, _root: Mapping | None = None) -> None:
    """Numbers YAML 1.1 reads as text (``1e-3``, ``5E-4``: no dot in the mantissa) become floats where the
    schema asks for a number and not for text, in files as on the command line (also in mappings that
    are list items, such as ensemble members)."""
    if not isinstance(instance, dict):
        return
    root = schema if _root is None else _root
    for key, sub in schema.get("properties", {}).items():
        if isinstance(instance.get(key), list) and isinstance(sub.get("items"), Mapping):
            items = _object_schema(sub["items"], root)
            for v in instance[key]:
                if isinstance(v, dict):
                    coerce_number_text(v, items, root)
        value = instance.get(key)
        types = _types(sub)
        if isinstance(value, str) and "number" in types and "string" not in types \
                and _NUMBER_TEXT.fullmatch(value.strip()):
            instance[key] = float(value)
        elif isinstance(value, dict):
            coerce_number_text(value, sub, root)
        elif isinstance(value, list) and isinstance(sub.get("items"), Mapping) and "number" in _types(sub["items"]):
            instance[key] = [float(v) if isinstance(v, str) and _NUMBER_TEXT.fullmatch(v.strip()) else v for v in value]


def non_finite_keys(instance: Any, _path: tuple = ()) -> list[str]:
    """Keys whose value is NaN or infinite (YAML's ``.nan``, ``.inf``), anywhere in the configuration."""
    import math

    if isinstance(instance, float) and not math.isfinite(instance):
        return [".".join(map(str, _path)) or "<top>"]
    if isinstance(instance, dict):
        return [k for key, v in instance.items() for k in non_finite_keys(v, _path + (key,))]
    if isinstance(instance, list):
        return [k for i, v in enumerate(instance) for k in non_finite_keys(v, _path + (i,))]
    return []


def default_classes(dataset: dict) -> None:
    """``dataset.classes`` left out (null): the paper's 5-class scheme for a dataset's own sheets, the CSV's
    own label set (``all``) for a bring-your-own CSV."""
    if dataset.get("classes") is None:
        dataset["classes"] = "all" if dataset.get("format") == "manifest" else "paper5"


def fill_defaults(instance: dict, schema: Mapping) -> None:
    """Set schema defaults for absent keys, recursively (objects given as ``{}`` get theirs too)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            fill_defaults(instance[key], sub)


def _describe(error) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        keys = ", ".join(repr(f"{where}.{k}" if where else k) for k in extra)
        return f"unknown config key {keys} (allowed here: {', '.join(allowed)})"
    if error.validator == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return (
            f"config key '{where}' must be of type {expected}, got {type(error.instance).__name__} "
            f"{error.instance!r}"
        )
    if error.validator == "enum":
        return f"config key '{where}' is {error.instance!r}; allowed: {error.validator_value}"
    if error.validator in ("anyOf", "oneOf"):
        options = []
        for alt in error.validator_value:
            if "enum" in alt:
                options.append("one of " + ", ".join(map(str, alt["enum"])))
            elif alt.get("type") == "array" and "enum" in alt.get("items", {}):
                options.append("a list of " + ", ".join(map(str, alt["items"]["enum"])))
            elif "type" in alt:
                t = alt["type"]
                options.append(" or ".join(t) if isinstance(t, list) else t)
        return f"config key '{where}' is {error.instance!r}; expected " + "; or ".join(options)
    if error.validator == "required":
        return f"config section '{where or '<top>'}': {error.message}"
    return f"config key '{where}': {error.message}"


def validate_config(config: dict, schema: Mapping | str | Path, cli_overrides: Mapping | None = None) -> dict:
    """Validate ``config`` in place (defaults filled, CLI strings cast); raise :class:`ConfigError`."""
    from jsonschema import Draft202012Validator

    if not isinstance(schema, Mapping):
        schema = load_yaml(schema)
    schema = registry_choices(schema)
    if not isinstance(config, dict):
        raise ConfigError(f"the configuration must be a mapping, got {type(config).__name__}")
    if cli_overrides:
        coerce_cli_overrides(config, cli_overrides, schema)
    fill_defaults(config, schema)
    coerce_number_text(config, schema)
    if isinstance(config.get("dataset"), dict):
        default_classes(config["dataset"])
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    errors = [_describe(e) for e in errors] + [
        f"config key '{k}' is not a finite number (NaN and infinity are never valid settings)"
        for k in non_finite_keys(config)]
    if errors:
        lines = "\n  - ".join(errors)
        raise ConfigError(f"invalid configuration:\n  - {lines}")
    return config


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def plan_errors(config: Mapping) -> list[str]:
    """Checks across keys that the schema cannot express, each naming the key and what is allowed;
    run before anything executes (``validate_config`` first)."""
    from .datasets import format_names, get_format
    from .datasets.manifest import name_problem

    errors = []
    bad_name = name_problem(str(config.get("name", "")), "run name")
    if bad_name:
        errors.append(f"config key 'name': {bad_name}")
    results = str(config.get("results", "results"))
    if not results.strip() or not results.strip().strip("/"):
        errors.append(f"config key 'results' is {results!r}: give a folder (neither empty nor '/'); every output "
                      "of the run goes under it")
    dataset = config.get("dataset") or {}
    classes = dataset.get("classes")
    if isinstance(classes, list):
        seen = [str(c).strip().lower() for c in classes]
        twice = sorted({c for c in seen if seen.count(c) > 1})
        if twice:
            errors.append(f"config key 'dataset.classes' lists {', '.join(map(repr, twice))} more than once; "
                          "each class must be named once")
        if len(set(seen)) < 2:
            errors.append(f"config key 'dataset.classes' needs at least two different classes, got {classes}")
    channels = dataset.get("flow_channels")
    if channels is not None and not {"u", "v"} <= set(channels):
        errors.append(f"config key 'dataset.flow_channels' is {channels}: it must name the u and v channels "
                      "(e.g. [u, v, strain]) for a mirror or rotation to turn the motion")
    formats = dataset.get("format", "casme2")
    formats = [formats] if isinstance(formats, str) else list(formats)
    evm = config.get("evm") or {}
    if evm.get("filter", "ideal") in ("ideal", "butterworth") and formats != ["manifest"]:
        low, high = evm.get("low_hz", 5.0), evm.get("high_hz", 20.0)
        if low >= high:
            errors.append(f"config keys 'evm.low_hz' ({low}) and 'evm.high_hz' ({high}): the band needs low_hz < high_hz")
        rates = {f: get_format(f).fps for f in formats if f in format_names()}
        too_fast = {f: fps for f, fps in rates.items() if high > fps / 2}
        if too_fast:
            f, fps = min(too_fast.items(), key=lambda kv: kv[1])
            errors.append(f"config key 'evm.high_hz' ({high}) is above half the frame rate of {f} ({fps:g} fps): "
                          f"the band must lie below {fps / 2:g} Hz (e.g. evm: {{low_hz: 2, high_hz: {fps / 2 * 0.8:g}}})")
    train = config.get("train") or {}
    if train.get("pretrained") and not Path(train["pretrained"]).is_file():
        errors.append(f"config key 'train.pretrained': file not found: {train['pretrained']} "
                      "(a torchvision ResNet-18 state_dict saved with torch.save, or null)")
    device = str(train.get("device", "auto"))
    if not _DEVICE.match(device):
        errors.append(f"config key 'train.device' is {device!r}; allowed: auto, cpu, cuda, cuda:N, mps")
    return errors


RUN_DATASET_FILE = "dataset.json"


def run_dataset_problem(out_dir: str | Path, results: str | Path, roots: Mapping[str, str], *,
                        record: bool) -> str | None:
    """A run name is bound to its dataset: ``{results}/{name}/dataset.json`` records the roots of the first
    run of that name; a later configuration with the same name and other roots is refused (it would
    replace that run's manifest and reports in place). Roots inside ``results`` (the synthetic stand-ins)
    are recorded relative to it, so a moved results folder still matches. With ``record``, a run
    without the file writes it. Returns the message, or None."""
    import json

    from .io import atomic_path

    base = Path(results).resolve()

    def where(root: str) -> str:
        p = Path(root).resolve()
        return f"{{results}}/{p.relative_to(base)}" if p.is_relative_to(base) else str(p)

    wanted = {fmt: where(root) for fmt, root in sorted(roots.items())}
    path = Path(out_dir) / RUN_DATASET_FILE
    if path.is_file():
        try:
            found = json.loads(path.read_text())["roots"]
        except (ValueError, KeyError, TypeError):
            return f"{path} is damaged: remove it (the next run records the dataset of this name again)"
        if found != wanted:
            return (f"config key 'name': the runs under {out_dir} were made on the dataset {found}; this configuration "
                    f"names {wanted}. Give this dataset a name of its own (or remove {out_dir} to start again)")
    elif record:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"roots": wanted}, indent=2) + "\n")
    return None
