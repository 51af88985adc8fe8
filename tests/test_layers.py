"""The architecture's arrows (docs/ARCHITECTURE.md): pages and ui never import torch/transformers or
engine internals beyond engine.api/engine.spec; the engine never imports streamlit; only store/
imports duckdb; importing the engine's light modules does no heavy work."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UI_ALLOWED_ENGINE = {"engine.api", "engine.spec", "engine.settings"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _files(*folders: str) -> list[Path]:
    out = []
    for folder in folders:
        base = ROOT / folder
        out.extend([base] if base.is_file() else sorted(base.rglob("*.py")))
    return out


def test_front_end_does_no_engine_work():
    for path in _files("app.py", "pages", "ui"):
        for name in _imports(path):
            root = name.split(".")[0]
            assert root not in {"torch", "transformers", "peft", "trl", "bitsandbytes", "duckdb", "datasets"}, \
                f"{path.relative_to(ROOT)} imports {name}"
            if root == "engine":
                assert any(name == a or name.startswith(a + ".") for a in UI_ALLOWED_ENGINE), \
                    f"{path.relative_to(ROOT)} imports {name}: the front end goes through engine.api"


def test_engine_never_imports_streamlit_and_only_store_imports_duckdb():
    for path in _files("engine"):
        names = _imports(path)
        assert not any(n.split(".")[0] == "streamlit" for n in names), path
        assert not any(n.split(".")[0] == "duckdb" for n in names), path
        assert not any(n.split(".")[0] in {"ui", "pages"} for n in names), path


def test_light_modules_import_no_ml_libraries():
    code = ("import sys; import engine.api, engine.spec, engine.runs.rundir, engine.runs.queue, engine.tasks.registry, "
            "engine.scoring.metrics, engine.scoring.quality, engine.scoring.sandbox;"
            "heavy = [m for m in ('torch', 'transformers', 'peft', 'trl', 'pylint', 'nltk', 'codebleu') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
