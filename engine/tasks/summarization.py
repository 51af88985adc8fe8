"""Code summarization (code → NL): sum-python and sum-java.

train/valid: CodeXGLUE code-to-text (the full sets once fetched, else the public sample split by
repository: engine.tasks.corpora). Option `train_form`: `raw` (default) trains on the code with its
docstrings stripped and the docstring's first paragraph as the summary; `tokens` on the reference
study's form, the whitespace-joined `code_tokens` (which hold no docstring) and `docstring_tokens`.
test: the paper's CoderEval subsets (100 Python / 99 Java) with docstrings stripped (the
eval.keep_docstrings flag keeps them, to compare with the paper), or the held-out code-to-text
repositories (option eval_set: code2text).

This module owns the variants' data; the prompt, the "SUMMARY: ... DONE" target, the stop string,
post-processing and metrics are the summarization family's (engine.tasks.families).
"""

from __future__ import annotations

from engine.tasks import corpora, postprocess
from engine.tasks.base import DataContext, DataError, Example, Split, TaskFacts, read_jsonl
from engine.tasks.task import Task

_CODEREVAL = {"python": "cs_codereval_eval_dataset_py_v2.jsonl", "java": "cs_codereval_eval_dataset_java_v2.jsonl"}


class _Summarization(Task):
    """A summarization variant: code in `source` → a one-line summary."""

    def __init__(self, name: str, source: str, description: str):
        super().__init__(TaskFacts(name=name, family="summarization", language="text", source_language=source,
                                   description=description,
                                   options={"eval_set": (("codereval", "code2text"), "codereval"),
                                            "train_form": (("raw", "tokens"), "raw")}))

    def strip(self, code: str) -> str:
        """The code without its docstrings (Python) or comments (Java)."""
        if self.source_language == "python":
            return postprocess.strip_python_docstrings(code)
        return postprocess.strip_java_comments(code)

    def load(self, split: Split, ctx: DataContext) -> list[Example]:
        assert self.source_language is not None
        if split == "test" and self.option(ctx, "eval_set") == "codereval":
            return self._codereval(ctx)
        tokens = split != "test" and self.option(ctx, "train_form") == "tokens"
        out = []
        for row in corpora.code2text_rows(ctx, self.source_language, split):
            if tokens:
                example = self._tokens_example(row)
                if example is not None:
                    out.append(example)
                continue
            summary = postprocess.first_paragraph(row["docstring"])
            if not summary:
                continue
            keep = (split == "test" and ctx.keep_docstrings) or ctx.counting
            code = row["code"] if keep else self.strip(row["code"])
            out.append(Example(id=f"code2text/{row['id']}", task=self.name, input=code.strip("\n"),
                               target=summary, meta={"repo": row["repo"], "url": row["url"]}))
        return out

    def _tokens_example(self, row: dict) -> Example | None:
        """The reference study's training form: `' '.join(code_tokens)` → `' '.join(docstring_tokens)`."""
        code, summary = " ".join(row["code_tokens"]), " ".join(row["docstring_tokens"])
        if not summary.strip():
            return None
        if not code.strip():
            raise DataError("no code_tokens", file=row["url"], field_name="code_tokens",
                            fix="train_form 'tokens' needs the CodeXGLUE code_tokens field; use train_form 'raw'")
        return Example(id=f"code2text/{row['id']}", task=self.name, input=code, target=summary,
                       meta={"repo": row["repo"], "url": row["url"], "form": "tokens"})

    def _codereval(self, ctx: DataContext) -> list[Example]:
        assert self.source_language is not None
        path = ctx.path("codereval_summarization", _CODEREVAL[self.source_language],
                        what=f"CoderEval summarization ({self.source_language})")
        out = []
        for _, rec in read_jsonl(path, required=("id", "code", "reference_summary")):
            # kept docstrings: the input verbatim, as the paper gave it (its trailing newline included)
            code = rec["code"] if ctx.keep_docstrings or ctx.counting else self.strip(rec["code"]).strip("\n")
            out.append(Example(id=str(rec["id"]), task=self.name, input=code,
                               target=" ".join(rec["reference_summary"].split()),
                               meta={"docstrings_kept": ctx.keep_docstrings, "eval_set": "codereval"}))
        return out


class SumPython(_Summarization):
    """Python code summarization."""

    def __init__(self) -> None:
        super().__init__("sum-python", "python",
                         "Python summarization: code-to-text (by repo) → CoderEval (100): BLEU, METEOR, ROUGE-L, chrF")


class SumJava(_Summarization):
    """Java code summarization."""

    def __init__(self) -> None:
        super().__init__("sum-java", "java",
                         "Java summarization: code-to-text (by repo) → CoderEval (99): BLEU, METEOR, ROUGE-L, chrF")


TASKS = (SumPython, SumJava)
