"""Planning a study before launch (`codetune study --dry-run`): the expanded runs, the realised
mixture of each, and an estimate of the tokens each run will train on.

Token counts come from a real tokenizer when one is given (or the study's first model is a local
folder); otherwise from a characters-per-token ratio of 3.5, stated in the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.data import prepare as data
from engine.settings import Settings
from engine.spec import RunSpec, StudySpec, expand_study

CHARS_PER_TOKEN = 3.5


@dataclass
class RunPlan:
    """What one run of a study would train on: mixture, examples, tokens and evaluation samples."""

    run_id: str
    config: str
    model: str
    label: str
    tasks: list[str]
    shares: list[dict[str, Any]]
    train_examples: int
    tokens_per_epoch: int
    tokens_to_train: int
    eval_samples: int


@dataclass
class StudyPlan:
    """The plan of a whole study: its distinct runs and where token counts come from."""

    study: str
    runs: list[RunPlan] = field(default_factory=list)
    token_source: str = ""

    def render(self) -> str:
        """The plan as text: per run its mixture, token counts and evaluation samples, then the total."""
        lines = [f"study {self.study}: {len(self.runs)} runs (tokens: {self.token_source})", ""]
        total = 0
        for r in self.runs:
            total += r.tokens_to_train
            lines.append(f"{r.run_id}\n  {r.label} [{r.config}] · {r.model} · tasks: {', '.join(r.tasks)}")
            if r.shares:
                mix = ", ".join(f"{s['task']}={s['target']}" + (f" (x{s['target'] / s['eligible']:.1f})"
                                                                 if s["repeats"] else "") for s in r.shares)
                lines.append(f"  mixture: {mix}  → {r.train_examples} examples")
                lines.append(f"  tokens: {r.tokens_per_epoch:,} per epoch, ~{r.tokens_to_train:,} to train")
            lines.append(f"  evaluation samples: {r.eval_samples}")
        lines += ["", f"total tokens to train: ~{total:,}"]
        return "\n".join(lines)


def _counter(tokenizer_path: str | None, study: StudySpec, settings: Settings) -> tuple[Any, str]:
    candidates = [tokenizer_path] if tokenizer_path else []
    candidates += [m.id for m in study.models] + [str(settings.models_dir / m.id) for m in study.models]
    for candidate in candidates:
        if candidate and Path(candidate).expanduser().is_dir():
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(Path(candidate).expanduser()))

            def count(text: str, tok: Any = tok) -> int:
                return len(tok(text, add_special_tokens=False)["input_ids"])

            return count, f"tokenizer {candidate}"
    return (lambda text: int(len(text) / CHARS_PER_TOKEN) + 1), f"estimated at {CHARS_PER_TOKEN} chars/token"


def plan_run(spec: RunSpec, settings: Settings, count_tokens: Any, config: str = "") -> RunPlan:
    """Plan one run: load its data, realise the mixture and count the training tokens."""
    data_dir = Path(spec.data_dir).expanduser() if spec.data_dir else settings.data_dir
    prepared = data.prepare(spec, data_dir)
    tasks = data.task_objects(spec)
    tokens = 0
    for ex in prepared.train:
        task = tasks[ex.task]
        text = "".join(m["content"] for m in task.messages(ex)) + task.target(ex)
        tokens += min(count_tokens(text) + 12, spec.train.max_length)  # + chat-template overhead
    steps_cap = None
    if spec.train.max_steps:
        steps_cap = spec.train.max_steps * spec.train.effective_batch
    per_epoch = tokens
    to_train = int(per_epoch * spec.train.epochs) if spec.trains else 0
    if steps_cap and prepared.train:
        to_train = min(to_train, int(per_epoch / len(prepared.train) * steps_cap))
    return RunPlan(spec.run_id(), config, spec.model.id, spec.label, spec.task_names,
                   [s.to_dict() for s in prepared.shares], len(prepared.train), per_epoch if spec.trains else 0,
                   to_train, sum(len(v) for v in prepared.evaluation.values()) * spec.eval.n_samples)


def plan_study(study: StudySpec, settings: Settings, tokenizer_path: str | None = None) -> StudyPlan:
    """Plan every distinct run of a study (runs shared by configurations are planned once)."""
    count, source = _counter(tokenizer_path, study, settings)
    plan = StudyPlan(study.study_id(), token_source=source)
    cache: dict[str, RunPlan] = {}
    for item in expand_study(study):
        key = item.spec.spec_hash()
        if key not in cache:
            cache[key] = plan_run(item.spec, settings, count, item.config)
        plan.runs.append(cache[key])
    return plan
