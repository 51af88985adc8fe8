"""Test programs for the sandbox: how a generated function and an example's tests become one program.

Owned here, used by the generation family (engine.tasks.families) for built-in and custom tasks alike.
An example's `meta` says which form its tests take:

python, HumanEval form   meta: test (defines `check(candidate)`), entry_point, prompt (may be empty).
                         A prediction that defines the entry point is kept whole after the prompt's
                         imports; a bare body completes the prompt. Then the tests and `check(entry)`.
python, MBPP form        meta: test_list (assert lines), test_setup_code. Setup, prediction, asserts.
java, HumanEval-X form   meta: declaration, test (a `Main` class), method. Imports, `class Solution`
                         built from the prediction, then the test class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.tasks.base import TestProgram

EXECUTABLE_LANGUAGES = ("python", "java")  # output languages a test program can be built for


def build(language: str, meta: Mapping[str, Any], prediction: str) -> TestProgram:
    """The test program for `prediction` in `language`, from the example's meta (forms above)."""
    if language == "python":
        return TestProgram(source=python_program(meta, prediction), language="python")
    if language == "java":
        return TestProgram(source=java_program(meta, prediction), language="java")
    raise ValueError(f"no test program for language {language!r}; executable: {', '.join(EXECUTABLE_LANGUAGES)}")


def python_program(meta: Mapping[str, Any], prediction: str) -> str:
    """The Python test program for `prediction`: HumanEval form when meta has `test`, else MBPP form."""
    if "test" in meta:
        entry = meta.get("entry_point") or ""
        prompt = meta.get("prompt") or ""
        defines_entry = re.search(rf"^\s*(async\s+)?def\s+{re.escape(entry)}\s*\(", prediction, re.M)
        if defines_entry:
            # a complete function: keep the prompt's imports, then the prediction
            header = python_imports(prompt)
            code = f"{header}\n{prediction}" if header else prediction
        else:
            code = prompt + prediction  # a body completing the prompt
        return f"{code}\n\n{meta['test']}\n\ncheck({entry})\n"
    tests = "\n".join(meta["test_list"])
    return f"{meta.get('test_setup_code', '')}\n{prediction}\n\n{tests}\n"


def java_program(meta: Mapping[str, Any], prediction: str) -> str:
    """HumanEval-X program: imports + a `class Solution` built from the prediction + the test Main."""
    code = re.sub(r"^\s*package\s+[\w.]+\s*;\s*$", "", prediction, flags=re.M)
    code = re.sub(r"\bpublic\s+(final\s+)?class\s+Solution\b", "class Solution", code)
    if not re.search(r"\bclass\s+Solution\b", code):
        method = meta.get("method") or ""
        if method and re.search(rf"\b{re.escape(method)}\s*\(", code) and "{" in code:
            code = f"class Solution {{\n{code}\n}}"  # a bare method: wrap it
        else:
            code = meta["declaration"] + code + "\n    }\n}"  # a body completing the declaration
    imports = "import java.util.*;\nimport java.lang.*;\n"
    return f"{imports}{code}\n\n{meta['test']}\n"


def python_imports(prompt: str) -> str:
    """The import lines of a HumanEval prompt (kept when a prediction restates the whole function)."""
    return "\n".join(line for line in prompt.splitlines() if line.startswith(("import ", "from ")))
