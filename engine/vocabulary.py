"""The project's vocabulary, defined once: run states and phases, the typed run status, what a run is
(`summarise`), methods and configuration labels, task families and their headline metrics, metric
metadata and the names of derived metrics, model sizes.

Every layer may import this module (the dashboard and the store included) and none keeps a copy of
what it defines. It imports nothing of the project and no third-party library, so importing it is
free. Registered things (tasks, metrics, analysers) live in their registries; this module owns the
words and the rules that derive names from them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

# --- run states ---------------------------------------------------------------------------------

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
STALLED = "stalled"  # shown, never stored: `running` in status.json, but no live process owns the run
CORRUPT = "corrupt"  # status.json is missing or unreadable: never claimed, shown with the file and why

STORED_STATES = (QUEUED, RUNNING, DONE, FAILED, CANCELLED)
SHOWN_STATES = (QUEUED, RUNNING, STALLED, DONE, FAILED, CANCELLED, CORRUPT)
CLAIMABLE_STATES = (QUEUED, RUNNING)  # a worker may claim these (a running one only when orphaned)
ACTIVE_STATES = (QUEUED, RUNNING, STALLED)  # as shown: not finished yet
TERMINAL_STATES = (DONE, FAILED, CANCELLED)
RESUMABLE_STATES = (FAILED, CANCELLED, CORRUPT)


@dataclass(frozen=True)
class StateStyle:
    """How a state is shown: an icon, a colour and one line saying what it means."""

    icon: str
    colour: str
    meaning: str


STATE_STYLES: dict[str, StateStyle] = {
    QUEUED: StateStyle("⏳", "#9aa5b1", "waiting for a worker"),
    RUNNING: StateStyle("▶️", "#2f6fde", "a worker is running it"),
    STALLED: StateStyle("⚠️", "#e0a030", "its worker died; the next worker resumes it from its last phase"),
    DONE: StateStyle("✅", "#2e9e5b", "every phase finished"),
    FAILED: StateStyle("❌", "#d64545", "a phase raised or the process died; resume retries from that phase"),
    CANCELLED: StateStyle("⛔", "#7b6f8f", "stopped on request; resume continues from its last checkpoint"),
    CORRUPT: StateStyle("🧩", "#a05a2c", "a run file cannot be read; its error names the file. Fix the file, or "
                        "resume the run to start its status afresh, or delete it"),
}

# --- phases -------------------------------------------------------------------------------------

PHASES = ("prepare", "train", "generate", "score", "analyse")


# Each phase's share of a run's overall progress, by its typical cost: training dominates, preparing
# takes seconds. Equal fifths made a run show 20% the moment training began, before any step.
PHASE_WEIGHTS = {"prepare": 0.04, "train": 0.56, "generate": 0.28, "score": 0.08, "analyse": 0.04}


def overall_progress(state: str | None, phase: str | None, done: float | None, total: float | None,
                     trains: bool = True) -> float:
    """0–1 over the phases, each weighted by PHASE_WEIGHTS: the finished phases plus the current
    phase's share of its own weight. `trains=False` (zero-shot) leaves the train phase out."""
    if state == DONE:
        return 1.0
    if phase not in PHASES:
        return 0.0
    within = 0.0
    if done is not None and total and total > 0 and not math.isnan(float(done)):
        within = min(1.0, max(0.0, float(done) / float(total)))
    weights = {p: w for p, w in PHASE_WEIGHTS.items() if trains or p != "train"}
    if phase not in weights:  # a zero-shot run passing through its (empty) train phase
        return sum(weights[p] for p in PHASES[: PHASES.index(phase)] if p in weights) / sum(weights.values())
    before = sum(weights[p] for p in PHASES[: PHASES.index(phase)] if p in weights)
    return (before + weights[phase] * within) / sum(weights.values())


# --- the typed run status (status.json) ---------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass
class Progress:
    """Progress within a phase: `done` of `total` units (batches, samples, steps)."""

    phase: str | None = None
    done: float | None = None
    total: float | None = None


@dataclass
class RunStatus:  # pylint: disable=too-many-instance-attributes  # one field per key of status.json
    """status.json as a typed record. Read and written only through the run-directory protocol
    (engine.runs.rundir.RunDir.read_status / update_status); unknown keys are kept in `extra`."""

    state: str = QUEUED
    phase: str | None = None
    phases_done: list[str] = field(default_factory=list)
    progress: Progress | None = None
    attempts: int = 0
    submitted_at: float | None = None
    claimed_at: float | None = None
    started_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    error: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> RunStatus:
        """Tolerant parse: a missing or ill-typed value takes its default, unknown keys go to `extra`."""
        if not isinstance(data, Mapping):
            return cls.corrupt(f"status.json holds {type(data).__name__}, not an object")
        progress = data.get("progress")
        phases = data.get("phases_done")
        error = data.get("error")
        state = data.get("state")
        attempts = data.get("attempts")
        known = {f.name for f in fields(cls)} - {"extra"}
        if state not in (*STORED_STATES, CORRUPT):
            return cls.corrupt(f"status.json has no valid state ({state!r})")
        return cls(
            state=state,
            phase=data.get("phase") if isinstance(data.get("phase"), str) else None,
            phases_done=[str(p) for p in phases] if isinstance(phases, list) else [],
            progress=Progress(progress.get("phase"), _number(progress.get("done")), _number(progress.get("total")))
            if isinstance(progress, Mapping) else None,
            attempts=int(attempts) if isinstance(attempts, int) and not isinstance(attempts, bool) else 0,
            submitted_at=_number(data.get("submitted_at")),
            claimed_at=_number(data.get("claimed_at")),
            started_at=_number(data.get("started_at")),
            updated_at=_number(data.get("updated_at")),
            finished_at=_number(data.get("finished_at")),
            error=dict(error) if isinstance(error, Mapping) else None,
            extra={k: v for k, v in data.items() if k not in known},
        )

    @classmethod
    def corrupt(cls, why: str) -> RunStatus:
        """The status shown for a run whose status.json cannot be read: `corrupt`, with the reason."""
        return cls(state=CORRUPT, error={"phase": None, "type": "CorruptRunFile", "message": why})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to status.json (the same keys as ever)."""
        out = {k: v for k, v in asdict(self).items() if k != "extra"}
        out["progress"] = asdict(self.progress) if self.progress is not None else None
        return {**self.extra, **out}


# --- methods and configuration labels -----------------------------------------------------------

METHODS = ("none", "qlora", "lora", "fft")
METHOD_LABELS = {"qlora": "QLoRA", "lora": "LoRA", "fft": "FFT", "none": "zero-shot"}
ZERO_SHOT = "zero-shot"
CONFIG_ORDER = (ZERO_SHOT, "ST-QLoRA", "MT-QLoRA", "ST-LoRA", "MT-LoRA", "ST-FFT", "MT-FFT")


def config_label(method: str | None, multitask: bool | None) -> str:
    """ST-QLoRA, MT-FFT, ... or zero-shot; '<method>' alone when single/multi-task is unknown."""
    if method == "none":
        return ZERO_SHOT
    if not method:
        return "?"
    name = METHOD_LABELS.get(method, method)
    if multitask is None:
        return name
    return f"{'MT' if multitask else 'ST'}-{name}"


def config_rank(config: str) -> int:
    """Sort key: zero-shot first, then ST before MT, QLoRA before LoRA before FFT, others last."""
    return CONFIG_ORDER.index(config) if config in CONFIG_ORDER else len(CONFIG_ORDER)


# --- what a run is ------------------------------------------------------------------------------


class SpecLike(Protocol):  # pylint: disable=too-few-public-methods
    """What `summarise` reads of a parsed RunSpec (engine.spec.RunSpec satisfies it)."""

    @property
    def label(self) -> str:
        """The configuration label (ST-QLoRA, ...)."""
        raise NotImplementedError

    @property
    def families(self) -> list[str]:
        """The task families the run covers."""
        raise NotImplementedError


def summarise(run_id: str, spec_data: Any, spec: SpecLike | None, status: RunStatus, *,
              owned: bool | None = None, heartbeat: float | None = None) -> dict[str, Any]:
    """One row saying what a run is and where it stands; the queue, the store, the CLI and the UI
    all show this row. `spec` is the parsed spec (None when spec.json does not validate: the label
    then names the method only, never guessing ST/MT); `owned` whether a live process holds the
    run's lock (False turns a `running` run into `stalled`; None: not checked)."""
    raw = spec_data if isinstance(spec_data, Mapping) else {}
    model = raw.get("model")
    model_id = model.get("id") if isinstance(model, Mapping) else (model if isinstance(model, str) else None)
    tasks = [t.get("name") if isinstance(t, Mapping) else t for t in raw.get("tasks") or []
             if isinstance(t, (Mapping, str))]
    method = raw.get("method") if isinstance(raw.get("method"), str) else None
    state = status.state
    if state == RUNNING and owned is False:
        state = STALLED
    families: list[str] | None = None
    if spec is not None:
        label, families = spec.label, list(spec.families)
    else:
        label = config_label(method, None)
    size, params = model_size(model_id)
    progress = status.progress or Progress()
    return {
        "run_id": run_id, "name": raw.get("name"), "state": state, "phase": status.phase,
        "progress_done": progress.done, "progress_total": progress.total,
        "overall": overall_progress(state, status.phase, progress.done, progress.total,
                                    trains=method != "none"),
        "label": label, "model": model_id, "model_size": size, "model_params_b": params,
        "method": method, "tasks": tasks, "families": families, "spec_valid": spec is not None,
        "submitted_at": status.submitted_at, "updated_at": status.updated_at,
        "finished_at": status.finished_at, "attempts": status.attempts, "error": status.error,
        "heartbeat": heartbeat,
    }


# --- model sizes --------------------------------------------------------------------------------

_SIZE_RE = re.compile(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)\s*([BbMmKk])(?![A-Za-z0-9])")
_SIZE_UNIT = {"b": 1.0, "m": 1e-3, "k": 1e-6}


def model_short_name(model_id: str | None) -> str | None:
    """The last path component of a model id or folder ('Qwen/Qwen2.5-Coder-0.5B' → 'Qwen2.5-Coder-0.5B')."""
    return model_id.rstrip("/").split("/")[-1] if model_id else None


def model_size(model_id: str | None) -> tuple[str | None, float | None]:
    """Display label and size in billions of parameters from a model id ('…-0.5B-…' → ('0.5B', 0.5),
    '…-135M-…' → ('135M', 0.135)); an id that names no size gives its short name and None."""
    short = model_short_name(model_id)
    if not short:
        return None, None
    match = _SIZE_RE.search(short)
    if not match:
        return short, None
    number, unit = match.group(1), match.group(2).lower()
    return f"{number}{unit.upper()}", float(number) * _SIZE_UNIT[unit]


# --- task families ------------------------------------------------------------------------------

FAMILIES = ("generation", "translation", "summarization")
OUTPUT_KINDS = ("code", "text")  # what a task produces; a metric applies to one or both


def is_multitask(families: Sequence[str]) -> bool:
    """Multi-task = more than one task *family* (ST on gen-python + gen-java is still ST, as in the paper)."""
    return len(set(families)) > 1


# --- metrics ------------------------------------------------------------------------------------

MCNEMAR, WILCOXON = "mcnemar", "wilcoxon"
METRIC_GROUPS = ("score", "execution", "corpus", "quality", "generation")


@dataclass(frozen=True)
class MetricInfo:  # pylint: disable=too-many-instance-attributes  # one field per fact about a metric
    """What a metric's numbers mean: range, direction, whether per-sample values exist (and so a
    paired test), which test, and its group on the Compare page."""

    name: str
    description: str = ""
    low: float | None = 0.0
    high: float | None = 1.0
    higher_is_better: bool | None = True
    per_sample: bool = True
    paired_test: str | None = WILCOXON
    group: str = "score"

    @property
    def scale(self) -> str:
        """'[0, 1], higher is better' and the like, for tooltips."""
        low = "-∞" if self.low is None else f"{self.low:g}"
        high = "∞" if self.high is None else f"{self.high:g}"
        way = {True: "higher is better", False: "lower is better", None: "no better direction"}[self.higher_is_better]
        return f"[{low}, {high}], {way}"


_GENERATION_STATS = {
    "n": "evaluated problems", "samples": "generated samples",
    "completion_tokens_mean": "mean completion length (tokens)",
    "truncated_rate": "share of completions cut by the token budget",
    "gen_tokens_per_s": "generation speed (tokens/s)",
}


def pass_at(k: int) -> str:
    """The name of pass@k."""
    return f"pass@{k}"


def corpus_name(metric: str) -> str:
    """The name under which a metric's corpus-level value is stored ('bleu' → 'bleu:corpus')."""
    return f"{metric}:corpus"


def exec_rate_name(status: str) -> str:
    """The name of an execution-outcome rate: the share of executed samples with that outcome
    ('passed' → 'exec:passed')."""
    return f"exec:{status}"


def quality_name(analyser: str, what: str) -> str:
    """The name of a per-task quality aggregate ('pylint', 'C_per_sample' → 'quality:pylint:C_per_sample')."""
    return f"quality:{analyser}:{what}"


def describe_metric(name: str, registered: Mapping[str, MetricInfo]) -> MetricInfo:
    """Facts about any metric name a run can report: a registered metric, pass@k, an execution rate,
    a corpus value, a quality aggregate or a generation statistic."""
    if name in registered:
        return registered[name]
    match = re.fullmatch(r"pass@(\d+)", name)
    if match:
        single = match.group(1) == "1"
        return MetricInfo(name, f"share of problems solved with {match.group(1)} sample(s) (unbiased estimator)",
                          per_sample=single, paired_test=MCNEMAR if single else None)
    if name.startswith("exec:"):
        status = name[len("exec:"):]
        return MetricInfo(name, f"share of executed samples whose outcome was '{status}'",
                          higher_is_better=True if status == "passed" else False if status else None,
                          per_sample=False, paired_test=None, group="execution")
    if name.endswith(":corpus"):
        base = describe_metric(name[: -len(":corpus")], registered)
        return MetricInfo(name, f"{base.name} computed over the whole corpus at once", base.low, base.high,
                          base.higher_is_better, per_sample=False, paired_test=None, group="corpus")
    if name.startswith("quality:"):
        _, analyser, what = [*name.split(":", 2), "", ""][:3]
        if what.endswith("_per_sample") or what == "failed_rate":
            meaning = ("share of samples the analyser could not analyse" if what == "failed_rate"
                       else f"{what[: -len('_per_sample')]} findings per sample")
            return MetricInfo(name, f"{analyser}: {meaning}", 0.0, 1.0 if what == "failed_rate" else None,
                              False, per_sample=False, paired_test=None, group="quality")
        return MetricInfo(name, f"{analyser}: mean {what} per sample", None, None, None, per_sample=False,
                          paired_test=None, group="quality")
    if name in _GENERATION_STATS:
        return MetricInfo(name, _GENERATION_STATS[name], 0.0, 1.0 if name == "truncated_rate" else None,
                          None if name != "truncated_rate" else False, per_sample=False, paired_test=None,
                          group="generation")
    return MetricInfo(name, "", None, None, None, per_sample=False, paired_test=None, group="score")


def headline_metric(family: str | None, metrics: Sequence[str], registered: Mapping[str, MetricInfo]) -> str | None:
    """A task's headline per-sample metric: its family's (pass@1 where it executes, else the
    first per-sample metric the task reports; `pass@k` counts as pass@1)."""
    names = [pass_at(1) if m == "pass@k" else m for m in metrics]
    preferred = {"generation": pass_at(1), "translation": "codebleu", "summarization": "bleu"}.get(family or "")
    if preferred in names:
        return preferred
    for candidate in names:
        if describe_metric(candidate, registered).per_sample:
            return candidate
    return None
