"""The reference recipe as data (../shared/REFERENCE.md, read from the replication package's code):
each training script's warm-up, evaluation cadence, early-stopping metric and validation rows, the
paper's data sizes, and an estimate of each kind of run's optimiser steps on the paper's data.

The kind of a run is its task family when it has one (the package's ST scripts), else `multi` (its
multitask scripts; the 3B two-task ablations ran them on two families). The prompts are the task
families' own (engine.tasks.families); engine.spec.fidelity compares a spec with the settings here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

EPOCHS = 5
EFFECTIVE_BATCH = 32  # 2 x 16 (the translation README runs 4 x 8)
PACKED_LENGTH = 512
PATIENCE = 3
THRESHOLD = 0.001
MULTI = "multi"


@dataclass(frozen=True)
class Script:
    """One of the package's training scripts: its schedule and early stopping."""

    kind: str  # a task family, or "multi"
    label: str
    warmup_steps: int
    eval_steps: int  # evaluation and checkpoint every N steps
    metric: str  # codebleu | bleu | combined (teacher-forced, higher is better)
    eval_rows: int
    note: str = ""


SCRIPTS = {
    "generation": Script("generation", "ST generation (generation/*_train.py)", 1000, 5000, "codebleu", 500),
    "summarization": Script("summarization", "ST summarization (summarization/*_train.py)", 1000, 5000, "bleu", 500),
    "translation": Script("translation", "ST translation (translation/*_train.py)", 100, 625, "codebleu", 100,
                          "its README runs 1,200 validation rows"),
    MULTI: Script(MULTI, "MT (multitask/*_train.py)", 1000, 5000, "combined", 500,
                  "its README runs 400 validation rows"),
}


@dataclass(frozen=True)
class FamilyData:
    """The paper's training data of one family: rows, estimated tokens per row in the packed text."""

    rows: int
    tokens_per_row: int
    source: str
    assumed: bool = False


# Tokens per row: the paper's prompt format rendered with ChatML on the public data, at 3.5 characters
# per token (summarization: code_tokens form; generation: code-to-text rows as summary + signature →
# code). The generation set is unpublished ("CodeXGLUE-derived"): assumed as large as the code-to-text
# training sets it is derived from.
PAPER_DATA = {
    "generation": FamilyData(416_743, 305, "CodeXGLUE-derived generation set (unpublished; size assumed equal "
                             "to code-to-text's 251,820 Python + 164,923 Java)", assumed=True),
    "summarization": FamilyData(416_743, 265, "CodeXGLUE code-to-text, 251,820 Python + 164,923 Java"),
    "translation": FamilyData(20_600, 210, "CodeXGLUE code-to-code-trans, 10,300 pairs x 2 directions"),
}

# the paper's data per built-in task: training rows (None: unpublished) and the evaluation set
PAPER_TASK_DATA = {
    "gen-python": (None, "CoderEval Python (190 after removing unreliable tests)"),
    "gen-java": (None, "CoderEval Java (184 after removing unreliable tests)"),
    "trans-java-cs": (10_300, "CodeXGLUE code-to-code-trans test (1,000)"),
    "trans-cs-java": (10_300, "CodeXGLUE code-to-code-trans test (1,000)"),
    "sum-python": (251_820, "CoderEval Python summarization (100), docstrings kept"),
    "sum-java": (164_923, "CoderEval Java summarization (99)"),
}


def kind_of(families: Sequence[str]) -> str:
    """The package script a run with these task families corresponds to."""
    distinct = sorted(set(families))
    return distinct[0] if len(distinct) == 1 else MULTI


def script_for(families: Sequence[str]) -> Script:
    """The package's script for a run over `families` (a custom family's run: the MT script's values)."""
    return SCRIPTS.get(kind_of(families), SCRIPTS[MULTI])


def paper_steps(families: Sequence[str]) -> int:
    """Estimated optimiser steps of the paper's run over `families`: 5 epochs of 512-token packed
    sequences in batches of 32, on the paper's training data."""
    tokens = sum(PAPER_DATA[f].rows * PAPER_DATA[f].tokens_per_row for f in set(families) if f in PAPER_DATA)
    sequences = math.ceil(tokens / PACKED_LENGTH)
    return EPOCHS * max(1, math.ceil(sequences / EFFECTIVE_BATCH))


def paper_fractions(families: Sequence[str]) -> tuple[float, float]:
    """(warm-up, evaluation cadence) of the package's script for `families` as fractions of the
    paper's run: what `schedule: paper_scaled` keeps on any amount of data."""
    script, total = script_for(families), paper_steps(families)
    return min(script.warmup_steps / total, 0.99), min(script.eval_steps / total, 0.99)
