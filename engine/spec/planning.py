"""Planning a study before launch (`codetune study --dry-run`): the expanded runs, the realised
mixture of each, an estimate of the tokens and optimiser steps each run will train on, its schedule
(`warm-up W of T steps`, the evaluation cadence, early stopping) with warnings where it will not work
as meant, the data each task reads against the paper's, and the differences from the reference
recipe (engine.spec.fidelity).

Token counts come from a real tokenizer when one is given (or the study's first model is a local
folder); otherwise from a characters-per-token ratio of 3.5, stated in the output. Steps follow from
the tokens with packing (sequences of train.max_length) and from the examples without.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.data import prepare as data
from engine.data.tokens import tokenizer_from_file
from engine.settings import Settings
from engine.spec import CustomTaskSpec, RunSpec, StudySpec, expand_study, fidelity, schedule

CHARS_PER_TOKEN = 3.5


@dataclass
class RunPlan:
    """What one run of a study would train on: mixture, examples, tokens, steps and evaluation samples."""

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
    total_steps: int = 0
    warmup_steps: int = 0
    eval_steps: int | None = None
    evaluations: int = 0
    schedule: str = ""
    schedule_source: str = ""
    valid_rows: int = 0
    warnings: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain data (the Launch page's rows)."""
        return dict(self.__dict__)


@dataclass
class StudyPlan:
    """The plan of a whole study: its distinct runs, where token counts come from, the fidelity view."""

    study: str
    runs: list[RunPlan] = field(default_factory=list)
    token_source: str = ""
    fidelity: list[dict[str, Any]] = field(default_factory=list)
    designs: list[str] = field(default_factory=list)  # one line per task-transfer configuration

    def render(self) -> str:
        """The plan as text: per run its mixture, tokens, schedule and warnings; the data sources; the
        total; and every difference from the reference recipe."""
        lines = [f"study {self.study}: {len(self.runs)} runs (tokens: {self.token_source})", *self.designs, ""]
        total = 0
        for r in self.runs:
            total += r.tokens_to_train
            lines.append(f"{r.run_id}\n  {r.label} [{r.config}] · {r.model} · tasks: {', '.join(r.tasks)}")
            if r.shares:
                mix = ", ".join(f"{s['task']}={s['target']}" + (f" (x{s['target'] / s['eligible']:.1f})"
                                                                 if s["repeats"] else "") for s in r.shares)
                lines.append(f"  mixture: {mix}  → {r.train_examples} examples")
                lines.append(f"  tokens: {r.tokens_per_epoch:,} per epoch, ~{r.tokens_to_train:,} to train")
                lines.append(f"  schedule: {r.schedule}")
                lines.append(f"    (from {r.schedule_source})")
            lines.extend(f"  warning: {w}" for w in r.warnings)
            lines.append(f"  evaluation samples: {r.eval_samples}")
        lines += ["", f"total tokens to train: ~{total:,}", ""]
        lines += render_sources(self.runs)
        lines += ["", *fidelity.render(self.fidelity, len(self.runs))]
        return "\n".join(lines)


def render_sources(runs: list[RunPlan]) -> list[str]:
    """One line per task: which data it trains on, against the paper's training set."""
    seen: dict[str, dict[str, Any]] = {}
    for r in runs:
        for source in r.sources:
            seen.setdefault(source["task"], source)
    if not seen:
        return []
    lines = ["data (training set used, against the paper's):"]
    for task, s in seen.items():
        paper = f"{s['paper_rows']:,} rows" if s["paper_rows"] else "unpublished"
        share = f" ({s['train_rows'] / s['paper_rows']:.1%} of it)" if s["paper_rows"] else ""
        lines.append(f"  {task}: {s['source']}, {s['train_rows']:,} rows{share}; paper: {paper}")
    return lines


def task_sources(spec: RunSpec, data_dir: Path, available: dict[str, int]) -> list[dict[str, Any]]:
    """Per task of `spec`: the training data it reads (source, rows) and the paper's rows."""
    from engine.spec.recipe import PAPER_TASK_DATA
    from engine.tasks import corpora

    out = []
    for entry in spec.tasks:
        name = entry.name
        if name.startswith("sum-"):
            language = "python" if name == "sum-python" else "java"
            full = corpora.source(data_dir, language, "train") == "full"
            source = "CodeXGLUE code-to-text (full set)" if full else "CodeXGLUE code-to-text (public sample)"
        elif name.startswith("trans-"):
            source = "CodeXGLUE code-to-code-trans"
        elif name == "gen-python":
            source = "MBPP 601-974"
        elif name == "gen-java":
            concode = entry.options.get("train_source") == "concode"
            full = corpora.source(data_dir, "java", "train") == "full"
            source = "CONCODE dev" if concode else f"code-to-text Java pairs ({'full set' if full else 'sample'})"
        else:
            source = "custom dataset"
        paper_rows = PAPER_TASK_DATA.get(name, (None, ""))[0]
        out.append({"task": name, "source": source, "train_rows": available.get(name, 0), "paper_rows": paper_rows})
    return out


def _counter(tokenizer_path: str | None, study: StudySpec | RunSpec, settings: Settings) -> tuple[Any, str]:
    models = study.models if isinstance(study, StudySpec) else [study.model]
    candidates = [tokenizer_path] if tokenizer_path else []
    candidates += [m.id for m in models] + [str(settings.models_dir / m.id) for m in models]
    for candidate in candidates:
        if candidate and Path(candidate).expanduser().is_dir():
            # the `tokenizers` library on tokenizer.json: no torch/transformers in the app's process
            tok = tokenizer_from_file(Path(candidate).expanduser() / "tokenizer.json")
            if tok is None:
                continue

            def count(text: str, tok: Any = tok) -> int:
                return len(tok.encode(text, add_special_tokens=False).ids)

            return count, f"tokenizer {candidate}"
    return (lambda text: int(len(text) / CHARS_PER_TOKEN) + 1), f"estimated at {CHARS_PER_TOKEN} chars/token"


def plan_run(spec: RunSpec, settings: Settings, count_tokens: Any, config: str = "",
             loads: data.Loads | None = None) -> RunPlan:
    """Plan one run: load its data (`loads`: splits already loaded for other runs of the study),
    realise the mixture, count the training tokens and steps."""
    data_dir = Path(spec.data_dir).expanduser() if spec.data_dir else settings.data_dir
    prepared = data.prepare(spec, data_dir, loads=loads)
    tasks = data.task_objects(spec)
    t = spec.train
    tokens = packed = 0
    for ex in prepared.train:
        task = tasks[ex.task]
        text = "".join(m["content"] for m in task.messages(ex)) + task.target(ex)
        count = count_tokens(text) + 12  # + chat-template overhead
        tokens += min(count, t.max_length)
        packed += count
    per_epoch = (packed if t.packing else tokens) if spec.trains else 0
    plan = RunPlan(spec.run_id(), config, spec.model.id, spec.label, spec.task_names,
                   [s.to_dict() for s in prepared.shares], len(prepared.train), per_epoch, 0,
                   sum(len(v) for v in prepared.evaluation.values()) * spec.eval.n_samples)
    if not spec.trains:
        return plan
    sequences = math.ceil(packed / t.max_length) if t.packing else None
    total = schedule.total_steps(len(prepared.train), spec, sequences)
    plan.tokens_to_train = int(per_epoch * total / schedule.steps_per_epoch(len(prepared.train), spec, sequences))
    resolved = schedule.resolve(spec)
    plan.total_steps = total
    plan.warmup_steps = resolved.warmup_steps(total)
    plan.eval_steps = resolved.eval_steps(total)
    plan.evaluations = resolved.evaluations(total)
    plan.schedule = resolved.describe(total)
    plan.schedule_source = resolved.source
    valid = len(prepared.valid)
    plan.valid_rows = min(valid, resolved.eval_rows) if resolved.eval_rows else valid
    plan.warnings = schedule.warnings(spec, total, plan.valid_rows)
    plan.sources = task_sources(spec, data_dir, {s.task: s.available for s in prepared.shares})
    return plan


def plan_study(study: StudySpec | RunSpec, settings: Settings, tokenizer_path: str | None = None) -> StudyPlan:
    """Plan every distinct run of a study (runs shared by configurations are planned once), or one run."""
    count, source = _counter(tokenizer_path, study, settings)
    name = study.study_id() if isinstance(study, StudySpec) else study.run_id()
    plan = StudyPlan(name, token_source=source)
    cache: dict[str, RunPlan] = {}
    loads: data.Loads = {}  # every run of a study reads the same files: load each split once
    items = ([(i.spec, i.config) for i in expand_study(study)] if isinstance(study, StudySpec)
             else [(study, study.label)])
    for spec, config in items:
        key = spec.spec_hash()
        if key not in cache:
            cache[key] = plan_run(spec, settings, count, config, loads)
        plan.runs.append(cache[key])
    if isinstance(study, StudySpec):
        plan.designs = transfer_designs(study)
    data_dir = settings.data_dir
    if isinstance(study, RunSpec) and study.data_dir:
        data_dir = Path(study.data_dir).expanduser()
    plan.fidelity = fidelity.study_differences(study, data_dir)
    return plan


def transfer_designs(study: StudySpec) -> list[str]:
    """One line per task-transfer configuration: its subsets and its single-task references."""
    from engine.spec.study import transfer_subsets, transfer_units
    from engine.tasks import registry

    customs = [CustomTaskSpec.model_validate(c) for c in study.base.get("custom_tasks", [])]

    def family(name: str) -> str:
        return registry.family_of(name, customs)

    lines = []
    for config in study.configurations:
        if config.transfer is None:
            continue
        tasks = [t.model_dump(mode="json") for t in study.tasks
                 if config.families is None or family(t.name) in config.families]
        unit = config.transfer.unit
        units = [u for u, _ in transfer_units(tasks, unit, family)]
        subsets = transfer_subsets(config.transfer, units)
        refs = f"; against one single-task run per {unit}" if config.transfer.single else ""
        lines.append(f"transfer design '{config.name}' over {'tasks' if unit == 'task' else 'task families'} "
                     f"({', '.join(units)}): {len(subsets)} multi-{unit} run(s) per model "
                     f"({'; '.join('+'.join(s) for s in subsets)}){refs}")
    return lines


def plan_details(spec: StudySpec | RunSpec, settings: Settings, tokenizer_path: str | None = None) -> dict[str, Any]:
    """The dry run as data (engine.api.plan_details)."""
    planned = plan_study(spec, settings, tokenizer_path=tokenizer_path)
    return {"id": planned.study, "token_source": planned.token_source, "text": planned.render(),
            "runs": [r.to_dict() for r in planned.runs], "fidelity": planned.fidelity}


def paper_data_sources(data_dir: Path) -> list[dict[str, Any]]:
    """Per built-in task: the training data it reads now and its rows against the paper's
    (engine.api.paper_data_sources)."""
    from engine.data.inventory import summarise
    from engine.spec.recipe import PAPER_TASK_DATA
    from engine.tasks.base import DataContext
    from engine.tasks.registry import builtin_tasks

    tasks = builtin_tasks()
    # the inventory's counts (cached while the data directory is unchanged), else count here
    counted = {row["task"]: row.get("train") for row in summarise(data_dir)}
    rows = {t.name: counted[t.name] if isinstance(counted.get(t.name), int)
            else len(t.load("train", DataContext(data_dir=data_dir, counting=True))) for t in tasks}
    out = task_sources(RunSpec.model_validate({"model": "codetune/sources", "tasks": [t.name for t in tasks]}),
                       data_dir, rows)
    for item in out:
        item["share"] = item["train_rows"] / item["paper_rows"] if item["paper_rows"] else None
        item["paper_test"] = PAPER_TASK_DATA.get(item["task"], (None, ""))[1]
    return out
