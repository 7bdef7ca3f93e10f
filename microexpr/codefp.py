"""Fingerprints of the library code a pipeline stage runs, so that editing the library re-runs exactly
the stages whose code changed (Snakemake itself hashes only a rule's adapter script).

A stage's code is found by reading, not running: from the names its adapter script imports from
``microexpr``, every top-level function, class and constant they refer to, followed through the
package's imports (module-level and function-local) to a fixed point. A module that is reached at all
adds its module-level statements (constants, registrations, decorated definitions: a registry may hand
out any of them at run time), and ``from . import x`` adds the whole of ``x``. Each definition is
hashed as its syntax tree without docstrings, so comments, docstrings and formatting never re-run
anything. Templates join the fingerprint of stages that render pages, and the source files of the
run's plugins (:mod:`microexpr.plugins`) that of every stage.

Reading the package costs about a second per Snakemake invocation, so each script's result is kept in
``$XDG_CACHE_HOME/microexpr/code-fingerprints.json`` (default ``~/.cache``) under a hash of the bytes of
the script, every package module (this one too) and template, and the plugins: any edit makes a new key,
and a missing, unreadable or unwritable cache only means reading the package again.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PACKAGE = "microexpr"
PACKAGE_DIR = Path(__file__).resolve().parent
_WHOLE = "*"  # a dependency on every top-level definition of a module


@dataclass
class _Module:
    name: str
    defs: dict[str, str] = field(default_factory=dict)      # top-level name -> normalised syntax
    refs: dict[str, set] = field(default_factory=dict)      # top-level name -> {(module, name)}
    always: set = field(default_factory=set)                 # names run on import (registrations, constants)


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _ours(module: str | None) -> bool:
    return bool(module) and (module == PACKAGE or module.startswith(PACKAGE + "."))


_ROOT = [PACKAGE_DIR]  # the package folder read (tests point it at an edited copy)


def _module_file(module: str) -> Path | None:
    return _find_module(_ROOT[0], module)


@lru_cache(maxsize=1024)
def _find_module(root: Path, module: str) -> Path | None:
    parts = module.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str | None:
    """The absolute module an ``ImportFrom`` inside ``module`` names (None: not this package)."""
    if node.level == 0:
        return node.module if _ours(node.module) else None
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, is_package: bool, tree: ast.AST) -> tuple[dict[str, tuple], set]:
    """Names bound by ``from ... import`` anywhere in ``tree`` -> (module, name); modules imported whole."""
    bound, whole = {}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node)
            if source is None:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if _module_file(sub) is not None:  # `from . import casme2`: a module
                    whole.add(sub)
                    bound[alias.asname or alias.name] = (sub, _WHOLE)
                else:
                    bound[alias.asname or alias.name] = (source, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name):
                    whole.add(alias.name)
    return bound, whole


def _is_dataclass(decorator: ast.expr) -> bool:
    """``@dataclass``, ``@dataclass(...)`` or ``@dataclasses.dataclass(...)``."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Name) and target.id == "dataclass") or (
        isinstance(target, ast.Attribute) and target.attr == "dataclass")


def _parse(module: str) -> _Module:
    path = _module_file(module)
    if path is None:
        return _Module(module)
    text = path.read_text(encoding="utf-8")
    return _parse_text(module, path, text)


@lru_cache(maxsize=256)
def _parse_text(module: str, path: Path, text: str) -> _Module:
    info = _Module(module)
    tree = _strip_docstrings(ast.parse(text, filename=str(path)))
    is_package = path.name == "__init__.py"
    top_imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
    module_bound, _ = _imports(module, is_package, ast.Module(body=top_imports, type_ignores=[]))
    for i, stmt in enumerate(tree.body):
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            bound, whole = _imports(module, is_package, stmt)
            if whole:  # `from . import casme2`: run for its registrations
                key = f"<import {i}>"
                info.defs[key], info.refs[key] = "", {(m, _WHOLE) for m in whole}
                info.always.add(key)
            # `from .x import y` binds y: what uses y depends on it, and so does importing y from here
            # (a package's __init__ that re-exports it)
            for name, source in bound.items():
                info.defs.setdefault(name, "")
                info.refs.setdefault(name, set()).add(source)
            continue
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            key = stmt.name
            if any(not _is_dataclass(d) for d in stmt.decorator_list):
                info.always.add(key)  # a decorator may register it (``dataclass`` never does)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            key = names[0] if names else f"<stmt {i}>"
            for extra in names[1:]:
                info.defs[extra], info.refs[extra] = "", {(module, key)}
        else:
            key = f"<stmt {i}>"
            info.always.add(key)  # a call at the top level (a registration) runs on import
        local, whole = _imports(module, is_package, stmt)
        bound = {**module_bound, **local}
        names = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        refs = {(module, n) for n in names} | {bound[n] for n in names if n in bound}
        refs |= {(m, _WHOLE) for m in whole}
        info.defs[key] = ast.dump(stmt)
        info.refs[key] = refs
    return info


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def closure(roots: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Every (module, name) reachable from ``roots``, with its normalised syntax."""
    seen: dict[tuple[str, str], str] = {}
    reached: set[str] = set()
    parsed: dict[str, _Module] = {}

    def parse(module: str) -> _Module:
        if module not in parsed:
            parsed[module] = _parse(module)
        return parsed[module]

    todo = list(roots)
    while todo:
        module, name = todo.pop()
        if _module_file(module) is None:
            continue
        for m in [*_parents(module), module]:  # importing a module runs its packages' and its own top level
            if m not in reached:
                reached.add(m)
                todo += [(m, n) for n in parse(m).always]
        info = parse(module)
        for n in (list(info.defs) if name == _WHOLE else [name]):
            if (module, n) in seen or n not in info.defs:
                continue
            seen[(module, n)] = info.defs[n]
            todo += [r for r in info.refs[n] if r not in seen]
    return seen


def script_roots(script: str | Path) -> set[tuple[str, str]]:
    """The (module, name) pairs an adapter script imports from the package."""
    tree = ast.parse(Path(script).read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and _ours(node.module):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                roots.add((sub, _WHOLE) if _module_file(sub) else (node.module, alias.name))
    return roots


_CACHE_ENTRIES = 512
_KEY, _VALUE = re.compile(r"[0-9a-f]{40}"), re.compile(r"[0-9a-f]{12}")


def cache_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "microexpr" / "code-fingerprints.json"


def _content_key(script: Path, root: Path, plugins: list[Path]) -> str:
    """A hash of everything the fingerprint of ``script`` can depend on: its bytes, every module's and
    template's (this module's among them: a change to how fingerprints are made is a new key), and the
    plugins'."""
    h = hashlib.sha1(script.read_bytes())
    files = [p for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts]
    for path in files + sorted((root / "templates").glob("*")):
        h.update(f"\n{path.relative_to(root).as_posix()}\n".encode() + path.read_bytes())
    for plugin in plugins:
        h.update(f"\nplugin {plugin}\n".encode() + plugin.read_bytes())
    return h.hexdigest()


def _read_cache() -> dict[str, str]:
    try:
        entries = json.loads(cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items()
            if isinstance(k, str) and isinstance(v, str) and _KEY.fullmatch(k) and _VALUE.fullmatch(v)}


def _write_cache(entries: dict[str, str], key: str, value: str) -> None:
    """Adds one entry to ``entries`` (the cache as just read), the file written whole and renamed into
    place (parallel invocations race harmlessly: the last rename wins, and every entry of every version
    is right)."""
    from .io import atomic_path

    entries[key] = value
    try:
        with atomic_path(cache_file()) as tmp:
            tmp.write_text(json.dumps(dict(list(entries.items())[-_CACHE_ENTRIES:])), encoding="utf-8")
    except OSError:
        pass


def _fingerprint(script: Path, root: Path, plugins: list[Path]) -> str:
    _ROOT[0] = root
    try:
        parts = closure(script_roots(script))
    finally:
        _ROOT[0] = PACKAGE_DIR
    h = hashlib.sha1()
    for key in sorted(parts):
        h.update(f"{key[0]}:{key[1]}\n{parts[key]}\n".encode())
    for plugin in plugins:  # a plugin may register anything a stage runs: its edits re-run every stage
        h.update(f"plugin {plugin.name}\n".encode() + plugin.read_bytes())
    if any(module == f"{PACKAGE}.pages" for module, _ in parts):
        for template in sorted((root / "templates").glob("*")):
            h.update(template.name.encode() + b"\n" + template.read_bytes())
    return h.hexdigest()[:12]


def code_fingerprint(script: str | Path, package_dir: str | Path | None = None, use_cache: bool = True) -> str:
    """A short hash of the library code that ``script`` (a workflow adapter) runs; ``package_dir``: the
    package folder to read (default: this installed one); ``use_cache``: look it up in (and add it to)
    :func:`cache_file`, under a hash of every byte it depends on."""
    from .plugins import sources

    script, root, plugins = Path(script), Path(package_dir).resolve() if package_dir else PACKAGE_DIR, sources()
    if not use_cache:
        return _fingerprint(script, root, plugins)
    key, entries = _content_key(script, root, plugins), _read_cache()
    value = entries.get(key)
    if value is None:
        value = _fingerprint(script, root, plugins)
        _write_cache(entries, key, value)
    return value


def stage_modules(script: str | Path) -> list[str]:
    """The modules whose code a stage runs (for ``--list-changes``-style explanations and tests)."""
    return sorted({module for module, _ in closure(script_roots(script))})
