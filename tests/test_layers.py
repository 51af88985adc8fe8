"""The architecture's rules (docs/ARCHITECTURE.md), enforced on the source:

- the front ends (app.py, pages/, ui/, the `codetune` command line in ui/cli.py) reach the engine
  only through engine.api, engine.spec, engine.settings, engine.vocabulary and engine.errors, and
  never import torch/transformers/duckdb;
- the engine never imports streamlit, duckdb, the store or the front end; only store/ imports duckdb;
- no import cycle between modules (function-level and TYPE_CHECKING imports included);
- no module over 500 lines in engine/, store/ or ui/;
- the vocabulary (run states, phases, method labels, configuration order, task families, the
  model-size pattern) is defined in engine/vocabulary.py and nowhere else;
- importing the engine's light modules loads no ML library.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRONT_END_ENGINE = {"engine.api", "engine.spec", "engine.settings", "engine.vocabulary", "engine.errors"}
HEAVY = {"torch", "transformers", "peft", "trl", "bitsandbytes", "duckdb", "datasets"}
MAX_LINES = 500


def _files(*folders: str) -> list[Path]:
    out = []
    for folder in folders:
        base = ROOT / folder
        out.extend([base] if base.is_file() else sorted(base.rglob("*.py")))
    return out


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module name a file imports anywhere (top level, in functions, under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from a.b import c` names a.b.c; the graph resolves it to a.b.c or a.b, whichever is a module
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_front_ends_reach_the_engine_only_through_its_facade():
    for path in _files("app.py", "pages", "ui"):
        for name in _imports(path):
            root = name.split(".")[0]
            assert root not in HEAVY, f"{path.relative_to(ROOT)} imports {name}"
            if root == "engine":
                assert any(name == a or name.startswith(a + ".") for a in FRONT_END_ENGINE), \
                    f"{path.relative_to(ROOT)} imports {name}: front ends go through engine.api"


def test_engine_imports_no_front_end_no_store_and_no_duckdb():
    for path in _files("engine"):
        for name in _imports(path):
            root = name.split(".")[0]
            assert root not in {"streamlit", "duckdb", "store", "ui", "pages"}, \
                f"{path.relative_to(ROOT)} imports {name}"


def test_only_the_store_imports_duckdb():
    for path in _files("app.py", "pages", "ui", "engine"):
        assert not any(n.split(".")[0] == "duckdb" for n in _imports(path)), path


def _graph() -> dict[str, set[str]]:
    paths = _files("engine", "store", "ui", "pages", "app.py")
    modules = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for name in _imports(path):
            parent = name.rpartition(".")[0]
            target = name if name in modules else parent if parent in modules else None
            if target and target != module:
                edges.add(target)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert not _cycles({"a": {"b"}, "b": set()})


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" ↔ ".join(c) for c in cycles)


def test_no_module_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in _files("engine", "store", "ui")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


VOCABULARY_NAMES = {"STATES", "ACTIVE_STATES", "STORED_STATES", "SHOWN_STATES", "TERMINAL_STATES", "ACTIVE",
                    "TERMINAL", "PHASES", "STATE_ICONS", "STATE_COLOURS", "METHOD_LABELS", "CONFIG_ORDER",
                    "METHOD_ORDER", "FAMILIES", "_SIZE_RE", "SIZE_RE"}
PHASE_WORDS = {"prepare", "train", "generate", "score", "analyse"}
STATE_WORDS = {"queued", "running", "stalled", "done", "failed", "cancelled"}


def _vocabulary_redefinitions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
            if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name) and target.id in VOCABULARY_NAMES:
                found.append(f"line {node.lineno}: assigns {target.id}")
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            words = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if len(words & PHASE_WORDS) >= 4 or len(words & STATE_WORDS) >= 4:
                found.append(f"line {node.lineno}: a literal list of phases or states")
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if len(keys & STATE_WORDS) >= 4 or len(keys & PHASE_WORDS) >= 4:
                found.append(f"line {node.lineno}: a dict keyed by states or phases")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and r"\s*([Bb" in node.value:
            found.append(f"line {node.lineno}: a model-size pattern")
    return found


def test_the_vocabulary_is_defined_once():
    offenders = {}
    for path in _files("engine", "store", "ui", "pages", "app.py"):
        if path == ROOT / "engine" / "vocabulary.py":
            continue
        found = _vocabulary_redefinitions(path)
        if found:
            offenders[str(path.relative_to(ROOT))] = found
    assert not offenders, f"vocabulary defined outside engine/vocabulary.py: {offenders}"


def test_the_redefinition_check_catches_a_copy(tmp_path):
    copy = tmp_path / "copy.py"
    copy.write_text('PHASES = ("prepare", "train", "generate", "score", "analyse")\n'
                    'ICONS = {"queued": 1, "running": 2, "done": 3, "failed": 4}\n', encoding="utf-8")
    assert len(_vocabulary_redefinitions(copy)) == 3


def test_light_modules_import_no_ml_libraries():
    code = ("import sys; import engine.api, engine.spec, engine.vocabulary, engine.runs.rundir, engine.runs.queue, "
            "engine.tasks.registry, engine.scoring.metrics, engine.scoring.quality, engine.scoring.sandbox, ui.cli;"
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'trl', 'pylint', 'nltk', 'codebleu', 'streamlit') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
