"""Code generation (NL → code): gen-python and gen-java.

gen-python  train: MBPP train (task_id 601–974), valid: MBPP validation (511–600);
            test: HumanEval (164, default) or MBPP test (11–510). Correctness by execution.
gen-java    train: CodeXGLUE code-to-text Java pairs (docstring → method, split by repository;
            default) or CONCODE dev (2,000, whitespace-tokenised); test: HumanEval-X Java (164),
            run as javac + java -ea.

This module owns the two variants' data: which rows, and the example's input (the reference study's
user turn: the summary, then "Function to implement:" (Java: "Method to implement:") and the
signature) and meta (what its test program needs). The prompt, the
post-processing, the metrics and the test programs are the generation family's
(engine.tasks.families, engine.tasks.programs).
"""

from __future__ import annotations

import ast
import re

from engine.tasks import corpora, postprocess
from engine.tasks.base import DataContext, DataError, Example, Split, TaskFacts, read_jsonl
from engine.tasks.task import Task

# The label before the signature in the user turn, as the reference study's prompts have it
LABELS = {"python": "Function to implement:", "java": "Method to implement:"}


def _user(summary: str, signature: str, language: str) -> str:
    """The user turn of the reference study: '{summary}\n\nFunction to implement:\n{signature}'."""
    return f"{summary.strip()}\n\n{LABELS[language]}\n{signature.strip()}"


def normalise_python(code: str) -> str:
    """CRLF → LF, trailing spaces off, tabs → 4 spaces (kept only if it still parses)."""
    lines = [line.rstrip() for line in code.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    plain = "\n".join(lines).strip("\n") + "\n"
    expanded = "\n".join(line.expandtabs(4) for line in plain.split("\n"))
    try:
        ast.parse(expanded)
    except SyntaxError:
        return plain
    return expanded


class GenPython(Task):
    """NL → Python function; scored by running the tests."""

    def __init__(self) -> None:
        super().__init__(TaskFacts(
            name="gen-python", family="generation", language="python", executable=True,
            description="Python code generation: MBPP train → HumanEval / MBPP test, pass@k by execution",
            options={"eval_set": (("humaneval", "mbpp"), "humaneval")},
        ))

    def load(self, split: Split, ctx: DataContext) -> list[Example]:
        if split == "test" and self.option(ctx, "eval_set") == "humaneval":
            return self._humaneval(ctx)
        ranges = {"train": (601, 974), "valid": (511, 600), "test": (11, 510)}
        lo, hi = ranges[split]
        path = ctx.path("mbpp", "mbpp.jsonl", what="MBPP (mbpp.jsonl)")
        out = []
        for lineno, rec in read_jsonl(path, required=("text", "code", "task_id", "test_list")):
            task_id = int(rec["task_id"])
            if not lo <= task_id <= hi:
                continue
            code = normalise_python(rec["code"])
            entry = _called_function(rec["test_list"], code) or _first_def_name(code)
            signature = _def_line(code, entry)
            if signature is None:
                raise DataError(f"no function definition for '{entry}' in the code", file=path, line=lineno,
                                field_name="code", fix="MBPP rows must define the function their tests call")
            out.append(
                Example(
                    id=f"MBPP/{task_id}",
                    task=self.name,
                    input=_user(rec["text"], signature, "python"),
                    target=code,
                    meta={
                        "summary": rec["text"],
                        "signature": signature,
                        "entry_point": entry,
                        "test_setup_code": rec.get("test_setup_code") or "",
                        "test_list": list(rec["test_list"]),
                        "eval_set": "mbpp",
                    },
                )
            )
        return out

    def _humaneval(self, ctx: DataContext) -> list[Example]:
        path = ctx.path("humaneval", "HumanEval.jsonl.gz", what="HumanEval (HumanEval.jsonl.gz)")
        out = []
        required = ("task_id", "prompt", "entry_point", "canonical_solution", "test")
        for _, rec in read_jsonl(path, required=required):
            prompt = rec["prompt"]
            summary = _python_docstring(prompt, rec["entry_point"]) or ""
            signature = postprocess.strip_python_docstrings(prompt).rstrip()
            signature = re.sub(r"\n\s+pass$", "", signature)
            out.append(
                Example(
                    id=rec["task_id"],
                    task=self.name,
                    input=_user(summary, signature, "python"),
                    target=prompt + rec["canonical_solution"],
                    meta={
                        "summary": summary,
                        "signature": signature,
                        "prompt": prompt,
                        "entry_point": rec["entry_point"],
                        "test": rec["test"],
                        "eval_set": "humaneval",
                    },
                )
            )
        return out


class GenJava(Task):
    """NL → Java method inside `class Solution`; scored by HumanEval-X's tests."""

    def __init__(self) -> None:
        super().__init__(TaskFacts(
            name="gen-java", family="generation", language="java", executable=True, test_set="humaneval-x",
            description="Java code generation: code-to-text pairs or CONCODE → HumanEval-X Java, pass@k by execution",
            options={"train_source": (("code2text", "concode"), "code2text")},
        ))

    def load(self, split: Split, ctx: DataContext) -> list[Example]:
        if split == "test":
            return self._humaneval_x(ctx)
        if self.option(ctx, "train_source") == "concode":
            return self._concode(split, ctx)
        rows = corpora.code2text_rows(ctx, "java", split)
        out = []
        for row in rows:
            summary = postprocess.first_paragraph(row["docstring"])
            code = row["code"].strip()
            signature = code.split("{", 1)[0].strip()
            if not summary or "{" not in code:
                continue
            out.append(
                Example(
                    id=f"code2text/{row['id']}",
                    task=self.name,
                    input=_user(summary, signature, "java"),
                    target=code,
                    meta={"summary": summary, "signature": signature, "repo": row["repo"]},
                )
            )
        return out

    def _concode(self, split: Split, ctx: DataContext) -> list[Example]:
        path = ctx.path("codexglue_concode", "dev.json", what="CONCODE (dev.json)")
        out = []
        for lineno, rec in read_jsonl(path, required=("nl", "code")):
            # CONCODE ships only dev with references: a fixed 90/10 split by line
            in_valid = lineno % 10 == 0
            if (split == "valid") != in_valid:
                continue
            summary = rec["nl"].split("concode_field_sep")[0].strip()
            code = rec["code"].strip()
            signature = code.split("{", 1)[0].strip()
            out.append(
                Example(
                    id=f"concode/{lineno}",
                    task=self.name,
                    input=_user(summary, signature, "java"),
                    target=code,
                    meta={"summary": summary, "signature": signature},
                )
            )
        return out

    def _humaneval_x(self, ctx: DataContext) -> list[Example]:
        path = ctx.path("humaneval_x_java", "humaneval_java.jsonl.gz", what="HumanEval-X Java")
        out = []
        required = ("task_id", "prompt", "canonical_solution", "test", "declaration", "text")
        for _, rec in read_jsonl(path, required=required):
            summary = " ".join(line.strip() for line in rec["text"].splitlines() if line.strip())
            signature = postprocess.strip_java_comments(rec["declaration"]).rstrip()
            out.append(
                Example(
                    id=rec["task_id"],
                    task=self.name,
                    input=_user(summary, signature, "java"),
                    target=rec["prompt"] + rec["canonical_solution"],
                    meta={
                        "summary": summary,
                        "signature": signature,
                        "declaration": rec["declaration"],
                        "test": rec["test"],
                        "method": _java_method_name(rec["declaration"]),
                        "eval_set": "humaneval-x",
                    },
                )
            )
        return out


def _python_docstring(prompt: str, entry: str) -> str | None:
    try:
        tree = ast.parse(prompt + "    pass\n")
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry:
            doc = ast.get_docstring(node)
            return doc.strip() if doc else None
    return None


def _called_function(tests: list[str], code: str) -> str | None:
    """The first function the tests call that the reference code defines."""
    defined = set(re.findall(r"^\s*def\s+([A-Za-z_]\w*)", code, re.M))
    for test in tests:
        for name in re.findall(r"([A-Za-z_]\w*)\s*\(", test):
            if name in defined:
                return name
    return None


def _first_def_name(code: str) -> str:
    match = re.search(r"^\s*def\s+([A-Za-z_]\w*)", code, re.M)
    return match.group(1) if match else ""


def _def_line(code: str, name: str) -> str | None:
    match = re.search(rf"^[ \t]*def\s+{re.escape(name)}\s*\(.*?\)[^:\n]*:", code, re.M | re.S)
    return match.group(0).strip() if match else None


def _java_method_name(declaration: str) -> str:
    """The last method declared (the one to implement) in a HumanEval-X declaration."""
    names = re.findall(r"\bpublic\s+[\w<>\[\], ?]+\s+(\w+)\s*\(", declaration)
    return names[-1] if names else ""


TASKS = (GenPython, GenJava)
