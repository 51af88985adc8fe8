"""Code translation Java ↔ C# (CodeXGLUE code-to-code-trans, the 2020 release the paper used).

train 10,300 / valid 500 / test 1,000 pairs, one function per line; line i of the .java file pairs
with line i of the .cs file. trans-java-cs translates Java → C#, trans-cs-java the reverse.
Scored by CodeBLEU, BLEU and exact match.

This module owns the variants' data (the paired files); the prompt, post-processing and metrics are
the translation family's (engine.tasks.families).
"""

from __future__ import annotations

from engine.tasks.base import DataContext, DataError, Example, Split, TaskFacts
from engine.tasks.task import Task

_FILES = {"train": "train", "valid": "valid", "test": "test"}
_EXT = {"java": "java", "csharp": "cs"}


class _Translation(Task):
    """A translation variant: `source` → `target` language, on the paired CodeXGLUE files."""

    def __init__(self, name: str, source: str, target: str, description: str):
        super().__init__(TaskFacts(name=name, family="translation", language=target, source_language=source,
                                   test_set="codexglue-test", description=description))

    def load(self, split: Split, ctx: DataContext) -> list[Example]:
        assert self.source_language is not None
        src_path = ctx.path("codexglue_code2code_trans", f"{_FILES[split]}.java-cs.txt.{_EXT[self.source_language]}",
                            what=f"code-to-code-trans {split} ({self.source_language})")
        tgt_path = ctx.path("codexglue_code2code_trans", f"{_FILES[split]}.java-cs.txt.{_EXT[self.language]}",
                            what=f"code-to-code-trans {split} ({self.language})")
        # split on '\n' only: some lines hold other Unicode line separators inside string literals
        sources = src_path.read_text(encoding="utf-8").split("\n")
        targets = tgt_path.read_text(encoding="utf-8").split("\n")
        if sources and sources[-1] == "":
            sources.pop()
        if targets and targets[-1] == "":
            targets.pop()
        if len(sources) != len(targets):
            raise DataError(f"{len(sources)} lines in {src_path.name} but {len(targets)} in {tgt_path.name}",
                            file=src_path, fix="the two files must pair line by line")
        out = []
        for i, (src, tgt) in enumerate(zip(sources, targets, strict=True), start=1):
            if not src.strip() or not tgt.strip():
                raise DataError("empty line", file=src_path if not src.strip() else tgt_path, line=i,
                                fix="every line must hold one function")
            out.append(Example(id=f"{split}-{i}", task=self.name, input=src.strip(), target=tgt.strip()))
        return out


class TransJavaCs(_Translation):
    """Java → C# translation."""

    def __init__(self) -> None:
        super().__init__("trans-java-cs", "java", "csharp",
                         "Java → C# translation (CodeXGLUE code-to-code-trans): CodeBLEU, BLEU, exact match")


class TransCsJava(_Translation):
    """C# → Java translation."""

    def __init__(self) -> None:
        super().__init__("trans-cs-java", "csharp", "java",
                         "C# → Java translation (CodeXGLUE code-to-code-trans): CodeBLEU, BLEU, exact match")


TASKS = (TransJavaCs, TransCsJava)
