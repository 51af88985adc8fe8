"""A run's data: the training mixture, validation sets and evaluation sets, as chat records.

`prepare(spec, data_dir)` loads every task's splits, realises the mixture (engine.data.mixture) and
selects the evaluation samples. Evaluation subsets (eval.limit) are drawn with a fixed salt, not
the training seed, so every run evaluates the same samples and runs can be compared pairwise.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.data import mixture
from engine.spec import RunSpec
from engine.tasks.base import DataContext, Example
from engine.tasks.registry import get_task, task_names
from engine.tasks.task import Task


@dataclass
class PreparedData:
    """Everything a run reads from the datasets, already selected and mixed."""

    train: list[Example] = field(default_factory=list)
    valid: list[Example] = field(default_factory=list)
    evaluation: dict[str, list[Example]] = field(default_factory=dict)
    shares: list[mixture.TaskShare] = field(default_factory=list)
    eval_sets: dict[str, str] = field(default_factory=dict)
    decontaminated: dict[str, int] = field(default_factory=dict)

    def mixture_record(self) -> dict[str, Any]:
        """Summary of the mixture and selected sets, as saved in the run's mixture.json."""
        return {
            "shares": [s.to_dict() for s in self.shares],
            "train_total": len(self.train),
            "valid_total": len(self.valid),
            "evaluation": {task: len(exs) for task, exs in self.evaluation.items()},
            "eval_sets": self.eval_sets,
            "decontaminated": self.decontaminated,
        }


def task_objects(spec: RunSpec) -> dict[str, Task]:
    """Task name → Task object for every task of the spec (custom tasks included)."""
    return {entry.name: get_task(entry.name, spec.custom_tasks) for entry in spec.tasks}


def context_for(spec: RunSpec, data_dir: Path, task_name: str) -> DataContext:
    """The loader context of one of the spec's tasks: data directory, its options and the docstring flag."""
    entry = next(t for t in spec.tasks if t.name == task_name)
    return DataContext(data_dir=data_dir, options=dict(entry.options), keep_docstrings=spec.eval.keep_docstrings)


def subset(examples: Sequence[Example], limit: int | None, salt: str) -> list[Example]:
    """At most `limit` examples: a fixed pseudo-random subset kept in the original order."""
    if limit is None or limit >= len(examples):
        return list(examples)
    picked = set(random.Random(salt).sample(range(len(examples)), limit))
    return [ex for i, ex in enumerate(examples) if i in picked]


def _normalise(text: str) -> str:
    return " ".join(text.split())


Loads = dict[tuple[Any, ...], list[Example]]


def _load(task: Task, split: str, ctx: DataContext, loads: Loads | None) -> list[Example]:
    """task.load, reused from `loads` for a built-in task read the same way before (planning a study
    prepares many runs over the same files)."""
    if loads is None or task.name not in task_names():
        return task.load(split, ctx)  # type: ignore[arg-type]
    key = (task.name, split, str(ctx.data_dir), json.dumps(dict(ctx.options), sort_keys=True, default=str),
           ctx.keep_docstrings, ctx.counting)
    if key not in loads:
        loads[key] = task.load(split, ctx)  # type: ignore[arg-type]
    return list(loads[key])


def prepare(spec: RunSpec, data_dir: Path, with_training: bool | None = None,
            loads: Loads | None = None) -> PreparedData:
    """Load and select a run's data (training data only for methods that train). `loads`: a cache
    of loaded splits shared by the calls that prepare several runs (a study's plan)."""
    tasks = task_objects(spec)
    with_training = spec.trains if with_training is None else with_training
    out = PreparedData()
    pools: dict[str, list[Example]] = {}
    for name, task in tasks.items():
        ctx = context_for(spec, data_dir, name)
        test = _load(task, "test", ctx, loads)
        out.evaluation[name] = subset(test, spec.eval.limit, salt=f"eval:{name}")
        out.eval_sets[name] = task.eval_set(ctx)
        if with_training:
            pool = _load(task, "train", ctx, loads)
            if spec.train.decontaminate:
                # public splits overlap (e.g. CodeXGLUE translation: ~5% of test inputs are in train)
                seen = {_normalise(ex.input) for ex in test}
                kept = [ex for ex in pool if _normalise(ex.input) not in seen]
                out.decontaminated[name] = len(pool) - len(kept)
                pool = kept
            pools[name] = pool
            out.valid.extend(subset(_load(task, "valid", ctx, loads), spec.train.valid_limit, salt=f"valid:{name}"))
    if with_training:
        available = {name: len(pool) for name, pool in pools.items()}
        out.shares = mixture.plan(available, spec.tasks, spec.mixture)
        out.train = mixture.realise(pools, out.shares, seed=spec.train.seed)
    return out


def chat_record(task: Task, example: Example) -> dict[str, Any]:
    """A conversational prompt-completion record (TRL's format): loss on the completion only."""
    return {
        "prompt": task.messages(example),
        "completion": [{"role": "assistant", "content": task.target(example)}],
    }


def chat_records(examples: Sequence[Example], tasks: dict[str, Task]) -> list[dict[str, Any]]:
    """Chat records (prompt and assistant completion) for the examples, each with its own task."""
    return [chat_record(tasks[ex.task], ex) for ex in examples]
