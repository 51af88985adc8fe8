"""The data preflight: read every dataset a run spec names before anything is queued, and say per file
and per task what a run would get.

For a custom task, per file (engine.tasks.rows): rows found, rows rejected by reason (first
positions, then a count), repeated ids (refused, or numbered), and whether the file is usable. For
every task, built-in (engine.data.inventory, from the data directory) or custom: the split sizes
(train / valid / test, and how many are evaluated under eval.limit), repeated ids, empty targets,
and prompts longer than the model's context (engine.data.tokens: config.json's
max_position_embeddings; tokens counted with the model's tokenizer.json or estimated).

What makes a run fail or score nothing is an error (a SpecError naming the task and the fix): a file
that cannot be read, a file the row policy refuses, an empty evaluation set, repeated evaluation
ids, an evaluation prompt longer than the context (generation would run past it, and a huge prompt
exhausts memory). What the run survives is a warning: rows skipped, ids numbered, training prompts
longer than the context (training truncates them to train.max_length and drops those left without
a completion).

The model: engine.runs.queue.preflight already refuses a folder that is not there and, offline, a hub
id not in the Hugging Face cache. Online, a hub id that is neither a local folder nor cached is
asked of the hub (`model_problem`: one metadata request, HUB_TIMEOUT_S at most, its answer kept for
a minute per model), so a model that does not exist or a hub that cannot be reached is an error
before anything is queued rather than a run failing at load. CODETUNE_HUB_CHECK=0 skips the request.

engine.runs.queue.preflight adds these errors to its own; `codetune validate`, the Launch page
(engine.api.data_report) and `submit` all go through it. Files are read once per process while
unchanged (see the caches in engine.tasks.rows and engine.data.inventory).
"""

from __future__ import annotations

import functools
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.data.inventory import SplitStats, builtin_splits, split_stats
from engine.data.prepare import context_for
from engine.data.tokens import ModelLimits, estimate, model_limits
from engine.errors import SpecError
from engine.settings import Settings
from engine.spec import RunSpec
from engine.tasks.base import SPLITS, DataContext, DataError
from engine.tasks.custom import CustomTask
from engine.tasks.registry import get_task
from engine.tasks.rows import SHOWN, FileCheck
from engine.tasks.task import Task


def eval_indices(count: int, limit: int | None, salt: str) -> list[int]:
    """The positions of the evaluated examples: the same draw as engine.data.prepare.subset."""
    if limit is None or limit >= count:
        return list(range(count))
    return sorted(random.Random(salt).sample(range(count), limit))


def _first(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


@dataclass
class TaskReport:  # pylint: disable=too-many-instance-attributes
    """What one task of the run would get."""

    task: str
    kind: str  # built-in | custom
    family: str
    eval_set: str
    files: list[dict[str, Any]] = field(default_factory=list)  # custom: engine.tasks.rows.FileCheck.to_dict()
    splits: dict[str, int | None] = field(default_factory=dict)  # None: the split could not be loaded
    evaluated: int | None = None  # test examples evaluated under eval.limit
    longest_prompt_tokens: int | None = None
    too_long: dict[str, int] = field(default_factory=dict)  # split → prompts longer than the context
    duplicate_ids: dict[str, int] = field(default_factory=dict)  # split → ids repeated
    empty_targets: dict[str, int] = field(default_factory=dict)  # split → examples with an empty target
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as text: the task, each file, the splits, warnings (errors are listed apart)."""
        out = [f"task {self.task} ({self.kind} {self.family}, evaluated on {self.eval_set})"]
        for info in self.files:
            out.append("  " + _file_line(info))
        if self.splits:
            sizes = " · ".join(f"{s} {'?' if n is None else n}" for s, n in self.splits.items())
            extra = f" · evaluated {self.evaluated}" if self.evaluated is not None else ""
            longest = f" · longest prompt {self.longest_prompt_tokens} tokens" if self.longest_prompt_tokens else ""
            out.append(f"  splits: {sizes}{extra}{longest}")
        out.extend(f"  warning: {w}" for w in self.warnings)
        return out


def _file_line(info: dict[str, Any]) -> str:
    unit = info["unit"]
    text = f"{info['path']} ({info['format']}): {info['rows']} {unit}s, {info['rejected']} rejected"
    reasons = [f"{reason}: {v['count']}" for reason, v in info["rejected_by_reason"].items()]
    if reasons:
        text += f" ({'; '.join(reasons)})"
    dup = info["duplicate_ids"]
    if dup["ids"]:
        text += f", {dup['ids']} repeated ids over {dup['rows']} {unit}s" + (" (numbered)" if dup["numbered"] else "")
    return text + ("" if not info["problems"] else " — unusable")


@dataclass
class DataReport:  # pylint: disable=too-many-instance-attributes
    """The data preflight of one run: the model's limits, a report per task, and the errors."""

    run_id: str
    label: str
    model: str
    data_dir: str
    context: int | None
    context_note: str
    token_note: str
    tasks: list[TaskReport] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as text, for `codetune validate`."""
        out = [f"data directory {self.data_dir}", f"model {self.model}: {self.context_note}; {self.token_note}"]
        for task in self.tasks:
            out.extend(task.lines())
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data (errors as text), for the Launch page."""
        data = asdict(self)
        data["errors"] = [str(e) for e in self.errors]
        data["lines"] = self.lines()
        return data


class _Builder:
    """Builds the report of one run, collecting SpecErrors as it goes."""

    def __init__(self, spec: RunSpec, data_dir: Path, limits: ModelLimits):
        self.spec, self.data_dir, self.limits = spec, data_dir, limits
        self.errors: list[SpecError] = []

    def error(self, report: TaskReport, path: str, value: Any, message: str, fix: str) -> None:
        """Record a problem on the task's report and as a SpecError."""
        report.errors.append(f"{message}. Fix: {fix}")
        self.errors.append(SpecError(path, value, message, fix))

    # --- loading -------------------------------------------------------------------------------
    def custom_splits(self, task: CustomTask, ctx: DataContext, report: TaskReport) -> dict[str, Any]:
        """Check the custom task's files; load its splits when every file is usable."""
        index = next(j for j, c in enumerate(self.spec.custom_tasks) if c.name == task.name)
        usable = True
        for role, key in (("data", "path"), ("eval", "eval_path")):
            where = f"custom_tasks[{index}].{key}"
            try:
                check: FileCheck | None = task.file(role, ctx)
            except DataError as exc:
                self.error(report, where, getattr(task.declaration, key), _located(exc), exc.fix or "check the file")
                usable = False
                continue
            if check is None:
                continue
            report.files.append(check.to_dict())
            report.warnings.extend(f"{check.path.name}: {w}" for w in check.warnings())
            for what, fix in check.problems():
                self.error(report, where, str(check.path), what, fix)
                usable = False
        if not usable:
            return {}
        return self._load(task, ctx, report, f"custom_tasks[{index}]")

    def _load(self, task: Task, ctx: DataContext, report: TaskReport, where: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for split in SPLITS:
            try:
                out[split] = split_stats(task, task.load(split, ctx))
            except DataError as exc:
                out[split] = exc
        failed = out.get("test")
        if isinstance(failed, DataError):
            self.error(report, where, task.name, _located(failed), failed.fix or "check the dataset")
            out.pop("test")
        return out

    def builtin(self, task: Task, ctx: DataContext, report: TaskReport, position: int) -> dict[str, Any]:
        """The built-in task's splits; a split the run needs that cannot be loaded is an error."""
        if not self.data_dir.is_dir():
            report.warnings.append("not checked: the data directory does not exist")
            return {}
        out: dict[str, Any] = dict(builtin_splits(task, ctx))
        for split, stats in list(out.items()):
            if not isinstance(stats, DataError):
                continue
            if split == "test" or self.spec.trains:
                self.error(report, f"tasks[{position}]", task.name, f"{split} split: {_located(stats)}",
                           stats.fix or "check the data directory")
            else:
                report.warnings.append(f"{split} split not loaded (not needed without training): {stats}")
            out.pop(split)
        return out

    # --- checks --------------------------------------------------------------------------------
    def tokens(self, stats: SplitStats) -> list[int]:
        """Prompt tokens of every example of the split: counted for long prompts when the model has a
        tokenizer, else estimated (cached on the split's facts, per tokenizer)."""
        limits = self.limits
        if limits.tokenizer_key not in stats.tokens:
            tokens = [estimate(chars) for chars in stats.prompt_chars]
            if limits.tokenizer is not None and stats.long_prompts:
                long_ones = list(stats.long_prompts)
                for i, count in zip(long_ones, limits.count([stats.long_prompts[i] for i in long_ones]), strict=True):
                    tokens[i] = count
            stats.tokens[limits.tokenizer_key] = tokens
        return stats.tokens[limits.tokenizer_key]

    def check_splits(self, task: Task, splits: dict[str, Any], report: TaskReport, position: int) -> None:
        """Sizes, the evaluation set, repeated ids, empty targets and prompt lengths."""
        report.splits = {s: (splits[s].count if isinstance(splits.get(s), SplitStats) else None) for s in SPLITS}
        where = f"tasks[{position}]"
        test = splits.get("test")
        if not isinstance(test, SplitStats):
            return
        indices = eval_indices(test.count, self.spec.eval.limit, f"eval:{task.name}")
        report.evaluated = len(indices)
        if test.count == 0:
            self.error(report, where, task.name, f"task {task.name} has no evaluation examples",
                       "give it an evaluation set (a custom task: eval_path, or a larger eval_fraction)")
            return
        for split, stats in splits.items():
            if not isinstance(stats, SplitStats):
                continue
            report.duplicate_ids[split] = len(stats.duplicate_ids)
            report.empty_targets[split] = len(stats.empty_targets)
        if test.duplicate_ids:
            self.error(report, where, task.name, f"evaluation ids repeat: {_first(list(test.duplicate_ids))}",
                       "give every evaluation example its own id (custom tasks: duplicate_ids: number)")
        if test.empty_targets:
            report.warnings.append(f"{len(test.empty_targets)} evaluation examples have an empty reference: "
                                   f"{_first(list(test.empty_targets))}")
        self._lengths(task, splits, indices, report, where)

    def _lengths(self, task: Task, splits: dict[str, Any], indices: list[int], report: TaskReport, where: str) -> None:
        context = self.limits.context
        longest = 0
        for split, stats in splits.items():
            if not isinstance(stats, SplitStats) or (split != "test" and not self.spec.trains):
                continue
            tokens = self.tokens(stats)
            picked = indices if split == "test" else range(stats.count)
            longest = max(longest, max((tokens[i] for i in picked), default=0))
            if context is None:
                continue
            over = [i for i in picked if tokens[i] > context]
            report.too_long[split] = len(over)
            if not over:
                continue
            biggest = max(tokens[i] for i in over)
            ids = _first([stats.ids[i] for i in over])
            if split == "test":
                fix = ("shorten or remove those rows" if isinstance(task, CustomTask) else
                       "choose another eval_set, or set eval.limit") + ", or use a model with a longer context"
                self.error(report, where, task.name, f"{len(over)} of the {len(picked)} evaluation prompts are longer "
                           f"than the model's context ({context} tokens; the longest has {biggest}): {ids}", fix)
            else:
                report.warnings.append(f"{len(over)} {split} prompts are longer than the model's context ({context} "
                                       f"tokens; the longest has {biggest}): training truncates them to "
                                       f"train.max_length and drops those left without a completion ({ids})")
        report.longest_prompt_tokens = longest or None


def _located(exc: DataError) -> str:
    """The DataError's message without its fix (the SpecError carries the fix)."""
    text = str(exc)
    return text[: text.rfind(". Fix: ")] if exc.fix and ". Fix: " in text else text


HUB_TIMEOUT_S = 3.0  # a validation must stay quick where the network is down or filtered


def _ask_hub(model_id: str, revision: str | None, timeout: float) -> str | None:
    """None when the hub has the model; else why it cannot be loaded from there."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        HfApi().model_info(model_id, revision=revision, timeout=timeout)
    except GatedRepoError:
        return None  # it exists; loading it needs a token, which the load reports with its fix
    except RevisionNotFoundError:
        return f"the Hugging Face hub has no revision '{revision}' of it"
    except RepositoryNotFoundError:
        return "the Hugging Face hub has no such model (or it is private)"
    except Exception as exc:  # pylint: disable=broad-exception-caught  # any network failure reads the same
        return f"the Hugging Face hub cannot be reached ({type(exc).__name__})"
    return None


@functools.lru_cache(maxsize=64)
def _hub_answer(model_id: str, revision: str | None, minute: int) -> str | None:
    del minute  # part of the key only: an answer is reused for a minute (a study asks once per model)
    return _ask_hub(model_id, revision, HUB_TIMEOUT_S)


def hub_status(model_id: str, revision: str | None = None) -> str | None:
    """None when the hub has `model_id` (at `revision`); else why not (absent, unreachable). Asks the
    hub at most once a minute per model, waiting HUB_TIMEOUT_S at most."""
    return _hub_answer(model_id, revision, int(time.monotonic() // 60))


def hub_check_enabled() -> bool:
    """Whether the preflight may ask the hub (CODETUNE_HUB_CHECK=0 turns it off)."""
    return os.environ.get("CODETUNE_HUB_CHECK", "1").strip().lower() not in ("0", "false", "no", "off")


def model_problem(spec: RunSpec, settings: Settings,
                  probe: Callable[[str, str | None], str | None] | None = None) -> SpecError | None:
    """The error for a model that is neither a local folder, nor in the Hugging Face cache, nor on a
    hub this process can reach; None when it can be loaded (or the check is off). A missing folder
    and an offline process are engine.runs.queue.preflight's to report."""
    from engine.models.load import ModelNotAvailable, resolve_source  # light: no torch import

    if settings.offline or not hub_check_enabled():
        return None
    try:
        source = resolve_source(spec, settings)
    except ModelNotAvailable:
        return None
    if source.local:
        return None
    from huggingface_hub import try_to_load_from_cache

    model = spec.model
    if isinstance(try_to_load_from_cache(model.id, model.gguf_file or "config.json", revision=model.revision), str):
        return None
    why = (probe or hub_status)(model.id, model.revision)
    if why is None:
        return None
    return SpecError("model.id", model.id,
                     f"model '{model.id}' is neither a local folder nor in the Hugging Face cache (or under "
                     f"{settings.models_dir}), and {why}",
                     "use a local folder saved with save_pretrained() (or one under the models directory, e.g. "
                     "the demo's SmolLM2-135M-Instruct from `make model`), download it where the hub is "
                     f"reachable (`huggingface-cli download {model.id}`), or check the id and the network "
                     "(CODETUNE_HUB_CHECK=0 skips this check)")


def data_report(spec: RunSpec, settings: Settings,
                limits_of: Callable[[RunSpec, Settings], ModelLimits] = model_limits) -> DataReport:
    """Read every dataset the run names and report per file and task; `errors` make the spec invalid."""
    data_dir = Path(spec.data_dir).expanduser() if spec.data_dir else settings.data_dir
    limits = limits_of(spec, settings)
    builder = _Builder(spec, data_dir, limits)
    report = DataReport(run_id=spec.run_id(), label=spec.label, model=spec.model.id, data_dir=str(data_dir),
                        context=limits.context, context_note=limits.context_note, token_note=limits.counting_note)
    for position, entry in enumerate(spec.tasks):
        try:
            task = get_task(entry.name, spec.custom_tasks)
        except (KeyError, ValueError):
            continue  # an unknown task or a bad declaration: the spec's own validation reports it
        ctx = context_for(spec, data_dir, entry.name)
        if isinstance(task, CustomTask):
            decl = task.declaration
            task_report = TaskReport(task=task.name, kind="custom", family=task.family, eval_set=(
                "its eval_path" if decl.eval_path else f"a held-out {decl.eval_fraction:.0%} of its rows"))
            splits = builder.custom_splits(task, ctx, task_report)
        else:
            task_report = TaskReport(task=task.name, kind="built-in", family=task.family, eval_set=task.eval_set(ctx))
            splits = builder.builtin(task, ctx, task_report, position)
        if splits:
            builder.check_splits(task, splits, task_report, position)
        report.tasks.append(task_report)
    problem = model_problem(spec, settings)
    report.errors = ([problem] if problem else []) + builder.errors
    return report


def combine(results: Sequence[tuple[list[SpecError], DataReport]]) -> dict[str, Any]:
    """The preflight of several runs (a study's) as one answer: every problem once, and the runs
    that share a report grouped under it: {"ok", "errors": [SpecError], "reports": [report dict with
    "runs": [{"run_id", "label"}]], "lines": [str]} (engine.api.data_report)."""
    errors: list[SpecError] = []
    groups: dict[str, dict[str, Any]] = {}
    for run_errors, report in results:
        errors.extend(e for e in run_errors if e not in errors)
        body = report.to_dict()
        who = {"run_id": body.pop("run_id"), "label": body.pop("label")}
        body.pop("errors")
        key = json.dumps(body, sort_keys=True, default=str)
        groups.setdefault(key, {**body, "runs": []})["runs"].append(who)
    lines: list[str] = []
    for group in groups.values():
        if len(results) > 1:
            names = [r["run_id"] for r in group["runs"]]
            lines.append(f"runs {', '.join(names[:3])}" + (f" and {len(names) - 3} more" if len(names) > 3 else ""))
        lines.extend(group["lines"])
    return {"ok": not errors, "errors": errors, "reports": list(groups.values()), "lines": lines}
