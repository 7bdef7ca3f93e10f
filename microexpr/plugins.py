"""Plugins: a user's own modules that register extensions (a flow method with ``@register_flow``, a
stream with ``@register_stream``, a model with ``@register_model``, a dataset format), loaded before
the configuration is validated, so that what they register can be configured, and in every process a
workflow run starts.

A plugin is an importable module name or the path of a ``.py`` file (the configuration's ``plugins``
list). :func:`load` imports each once and records them in the ``MICROEXPR_PLUGINS`` environment
variable, which the processes the workflow starts inherit: importing ``microexpr`` there loads them
again (:func:`load_from_environment`). Their source files join every stage's code fingerprint, so
editing a plugin re-runs the stages.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from .errors import MicroexprError

ENV = "MICROEXPR_PLUGINS"
_LOADED: dict[str, object] = {}  # key (an absolute .py path or a module name) -> module


class PluginError(MicroexprError):
    """A plugin that cannot be found or fails on import; the message names it."""


def _key(entry: str) -> str:
    return str(Path(entry).expanduser().resolve()) if entry.endswith(".py") else entry


def _import(entry: str, key: str):
    if key.endswith(".py"):
        path = Path(key)
        if not path.is_file():
            raise PluginError(f"plugin {entry}: no such file")
        spec = importlib.util.spec_from_file_location(f"microexpr_plugin_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[spec.name]
            raise PluginError(f"plugin {entry}: {type(exc).__name__}: {exc}") from exc
        return module
    try:
        return importlib.import_module(entry)
    except ModuleNotFoundError as exc:
        raise PluginError(f"plugin {entry}: no module named {exc.name!r} (a module name on the Python path, "
                          "or the path of a .py file)") from None
    except Exception as exc:
        raise PluginError(f"plugin {entry}: {type(exc).__name__}: {exc}") from exc


def load(entries) -> list:
    """Import each plugin once (module names, or ``.py`` paths relative to the working folder) and
    record every loaded one in ``MICROEXPR_PLUGINS`` for the processes started from here."""
    if isinstance(entries, str) or not all(isinstance(e, str) and e for e in entries):
        raise PluginError(f"plugins must be a list of module names or .py paths, got {entries!r}")
    modules = []
    for entry in entries:
        key = _key(entry)
        if key not in _LOADED:
            _LOADED[key] = _import(entry, key)
        modules.append(_LOADED[key])
    if _LOADED:
        os.environ[ENV] = os.pathsep.join(_LOADED)
    return modules


def load_from_environment() -> list:
    """The plugins ``MICROEXPR_PLUGINS`` names (set by the process that started this one)."""
    entries = [e for e in os.environ.get(ENV, "").split(os.pathsep) if e]
    return load(entries) if entries else []


def sources() -> list[Path]:
    """The source files of the loaded plugins (what a stage's code fingerprint adds)."""
    files = [getattr(m, "__file__", None) for m in _LOADED.values()]
    return sorted(Path(f) for f in files if f)
