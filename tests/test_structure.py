"""The package's shape: no import cycle, modules and functions small enough to read in one go.

The limits are 400 lines a module and 80 a function (docstrings and comments included)."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "microexpr"
MODULE_LINES, FUNCTION_LINES = 400, 80


def _modules():
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """The package's modules that ``name`` imports anywhere (module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found |= {t for t in [target, *(f"{target}.{a.name}" for a in node.names)] if t in modules}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
    return found - {name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_of_the_package_imports_itself_back():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert "microexpr.training.loop" in graph["microexpr.predict"]  # predict uses training, never the reverse
    assert _cycles(graph) == []
    # the check sees function-local imports too: a cycle made of them is found
    assert _cycles({**graph, "microexpr.bundle": graph["microexpr.bundle"] | {"microexpr.predict"}})


def _sizes():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        text = path.read_text()
        yield (rel, None), len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield (rel, node.name), node.end_lineno - node.lineno + 1


def test_modules_and_functions_stay_within_their_limits():
    too_long = [f"{key}: {lines} lines (limit {MODULE_LINES if key[1] is None else FUNCTION_LINES})"
                for key, lines in _sizes() if lines > (MODULE_LINES if key[1] is None else FUNCTION_LINES)]
    assert not too_long, too_long
    assert max(lines for key, lines in _sizes() if key[1] is None) > MODULE_LINES // 2  # it reads real modules


def test_the_training_protocol_reads_in_one_screen():
    # train_fold dispatches (hand-crafted, ensemble, choose, one model); train_one is the protocol
    tree = ast.parse((PACKAGE / "training" / "fold.py").read_text())
    lengths = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert lengths["train_fold"] <= 30 and lengths["train_one"] <= 60, lengths


def test_workflow_adapters_are_one_library_call_without_branches():
    adapters = sorted((PACKAGE.parent / "workflow_scripts").glob("*.py"))
    assert len(adapters) >= 10
    for path in adapters:
        tree = ast.parse(path.read_text())
        branches = [type(n).__name__ for n in ast.walk(tree)
                    if isinstance(n, (ast.If, ast.IfExp, ast.For, ast.While, ast.Try, ast.FunctionDef))]
        assert not branches and len(path.read_text().splitlines()) <= 25, (path.name, branches)
