"""A run's schedule: warm-up, evaluation cadence and early stopping, resolved from its TrainSpec.

Warm-up and the evaluation cadence are optimiser steps or fractions of the run (the trainer passes a
fraction below 1 to transformers, which takes it as a share of the run's steps, rounded up), or
the reference package's values for the kind of run (`train.schedule`):

    given         warmup_steps / warmup_ratio, eval_steps / eval_fraction as written
    paper         the package script's steps (engine.spec.recipe.SCRIPTS), as they are
    paper_scaled  those scaled by this run's steps over the paper's run: the same fractions of the
                  run as in the paper, on any amount of data

`early_stopping_metric: auto` is the package's metric for the kind of run. Given a run's total
optimiser steps (the dry run estimates them), `Schedule` says the warm-up and evaluation steps,
and `warnings` what will not work as meant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.spec import recipe
from engine.spec.run import RunSpec

METRIC_NAMES = {"loss": "validation loss", "codebleu": "teacher-forced CodeBLEU", "bleu": "teacher-forced sentence "
                "BLEU", "combined": "teacher-forced combined score (BLEU for summary rows, CodeBLEU x 100 for code)"}


@dataclass(frozen=True)
class Schedule:
    """Warm-up, evaluation/checkpoint cadence and early stopping of one run.

    warmup, eval_every, save_every: optimiser steps (int) or a fraction of the run (float below 1);
    eval_every None: no evaluation during training. metric: loss | codebleu | bleu | combined."""

    warmup: int | float
    eval_every: int | float | None
    save_every: int | float
    metric: str
    patience: int | None
    threshold: float
    eval_rows: int | None
    source: str

    @property
    def early_stopping(self) -> bool:
        """Whether the run stops early (patience set and something to evaluate)."""
        return self.patience is not None and self.eval_every is not None

    @property
    def greater_is_better(self) -> bool:
        """Whether a higher value of the metric is better (every metric but the loss)."""
        return self.metric != "loss"

    def warmup_steps(self, total: int) -> int:
        """Warm-up steps in a run of `total` optimiser steps (transformers' rule)."""
        return int(self.warmup) if self.warmup >= 1 else math.ceil(total * self.warmup)

    def eval_steps(self, total: int) -> int | None:
        """Steps between evaluations in a run of `total` steps (None: no evaluation)."""
        if self.eval_every is None:
            return None
        return int(self.eval_every) if self.eval_every >= 1 else max(1, math.ceil(total * self.eval_every))

    def evaluations(self, total: int) -> int:
        """How many evaluations a run of `total` steps makes."""
        every = self.eval_steps(total)
        return total // every if every else 0

    def describe(self, total: int) -> str:
        """One line: warm-up W of T steps, evaluation cadence, early stopping."""
        warm = self.warmup_steps(total)
        text = f"warm-up {warm} of {total} steps ({warm / max(total, 1):.0%})"
        every = self.eval_steps(total)
        if every is None:
            return text + " · no evaluation during training"
        text += f" · evaluate every {every} steps ({self.evaluations(total)} evaluations)"
        if self.early_stopping:
            text += (f" · early stopping on {METRIC_NAMES[self.metric]}, patience {self.patience}, "
                     f"threshold {self.threshold:g}")
            text += f", {self.eval_rows} validation rows" if self.eval_rows else ", every validation row"
        return text


def auto_metric(families: list[str]) -> str:
    """The package's early-stopping metric for a run over `families`."""
    return recipe.script_for(families).metric


def resolve(spec: RunSpec) -> Schedule:
    """The schedule of `spec` (its families decide the package's values for schedule paper*)."""
    t = spec.train
    families = spec.families
    metric = auto_metric(families) if t.early_stopping_metric == "auto" else t.early_stopping_metric
    patience = t.early_stopping_patience
    if t.schedule == "given":
        warmup: int | float = t.warmup_ratio if t.warmup_ratio > 0 else t.warmup_steps
        if t.eval_fraction is not None:
            eval_every: int | float | None = t.eval_fraction
        elif t.eval_steps is not None or patience is not None:
            eval_every = t.eval_steps or t.save_steps
        else:
            eval_every = None
        save: int | float = t.eval_fraction if t.eval_fraction is not None else t.save_steps
        return Schedule(warmup, eval_every, save, metric, patience, t.early_stopping_threshold, t.eval_rows,
                        "as given")
    script = recipe.script_for(families)
    rows = t.eval_rows or script.eval_rows
    if t.schedule == "paper":
        return Schedule(script.warmup_steps, script.eval_steps, script.eval_steps, metric, patience,
                        t.early_stopping_threshold, rows, f"the package's {script.label}")
    warm_fraction, eval_fraction = recipe.paper_fractions(families)
    return Schedule(warm_fraction, eval_fraction, eval_fraction, metric, patience, t.early_stopping_threshold, rows,
                    f"the package's {script.label}, scaled to this run "
                    f"({script.warmup_steps} and {script.eval_steps} of ~{recipe.paper_steps(families):,} steps)")


def steps_per_epoch(examples: int, spec: RunSpec, sequences: int | None = None) -> int:
    """Optimiser steps per epoch over `examples` training examples (or `sequences` packed sequences), as
    transformers counts them on one device: ceil(batches / grad_accum)."""
    t = spec.train
    batches = math.ceil((sequences if sequences is not None else examples) / t.batch_size)
    return max(batches // t.grad_accum + int(batches % t.grad_accum > 0), 1)


def total_steps(examples: int, spec: RunSpec, sequences: int | None = None) -> int:
    """The optimiser steps of the whole run: epochs x steps per epoch, capped by max_steps."""
    total = math.ceil(spec.train.epochs * steps_per_epoch(examples, spec, sequences))
    return min(total, spec.train.max_steps) if spec.train.max_steps else total


def warnings(spec: RunSpec, total: int, valid_rows: int | None = None) -> list[str]:
    """What will not work as meant in a run of `total` optimiser steps: a warm-up over half the run,
    early stopping that can never trigger, nothing to validate on."""
    if not spec.trains:
        return []
    schedule = resolve(spec)
    out = []
    warm = schedule.warmup_steps(total)
    if warm * 2 > total:
        peak = "never reaches the peak learning rate" if warm >= total else "spends most of it warming up"
        out.append(f"warm-up of {warm} steps covers more than half of the run's {total}: the run {peak}; set "
                   "train.warmup_ratio (e.g. 0.05) or train.schedule: paper_scaled")
    if schedule.patience is not None:
        needed = schedule.patience + 1
        count = schedule.evaluations(total)
        if valid_rows == 0:
            out.append("early stopping has no validation rows to evaluate: it never triggers")
        elif count < needed:
            same = (" (the package's own run had as few: this keeps its share of the run)"
                    if spec.train.schedule == "paper_scaled" else "")
            out.append(f"early stopping can never trigger: {count} evaluation(s) in {total} steps, patience "
                       f"{schedule.patience} needs {needed}{same}; evaluate more often (train.eval_fraction "
                       f"{1 / (needed + 1):.2f}) or lower the patience")
    return out
