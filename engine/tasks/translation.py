"""Code translation Java ↔ C# (CodeXGLUE code-to-code-trans, the 2020 release the paper used).

train 10,300 / valid 500 / test 1,000 pairs, one function per line; line i of the .java file pairs
with line i of the .cs file. trans-java-cs translates Java → C#, trans-cs-java the reverse.
Scored by CodeBLEU, BLEU and exact match.
"""

from __future__ import annotations

from engine.tasks import postprocess
from engine.tasks.base import DataContext, DataError, Example, Split, Task

SYSTEM = "You are an expert code translator. Output only code."
_FILES = {"train": "train", "valid": "valid", "test": "test"}
_EXT = {"java": "java", "csharp": "cs"}


class _Translation(Task):
    family = "translation"
    test_set = "codexglue-test"
    default_metrics = ("codebleu", "bleu", "exact_match")

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

    def messages(self, example: Example) -> list[dict[str, str]]:
        src = {"java": "Java", "csharp": "C#"}[self.source_language or "java"]
        dst = {"java": "Java", "csharp": "C#"}[self.language]
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Translate from {src} to {dst}:\n{example.input}"},
        ]

    def postprocess(self, completion: str, example: Example) -> str:
        return postprocess.extract_code(completion, prefer=self.language)


class TransJavaCs(_Translation):
    """Java → C# translation."""

    name = "trans-java-cs"
    language = "csharp"
    source_language = "java"
    description = "Java → C# translation (CodeXGLUE code-to-code-trans): CodeBLEU, BLEU, exact match"


class TransCsJava(_Translation):
    """C# → Java translation."""

    name = "trans-cs-java"
    language = "java"
    source_language = "csharp"
    description = "C# → Java translation (CodeXGLUE code-to-code-trans): CodeBLEU, BLEU, exact match"


TASKS = (TransJavaCs, TransCsJava)
