"""Formatting for the dashboard: durations, times, numbers, run labels and state badges, a run's
events as a readable timeline, and the words for what a run is doing (progress and curve captions).

Pure functions (no Streamlit), so they are cheap to test and reuse in tables and figures. What the
words mean (run states and their icons, model sizes) comes from engine.vocabulary: this module only
turns it into text.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from engine.vocabulary import (
    ACTIVE_STATES,
    CANCELLED,
    DONE,
    FAILED,
    PHASES,
    QUEUED,
    STALLED,
    STATE_STYLES,
    model_size,
)


def is_missing(value: Any) -> bool:
    """None, NaN or pandas NA."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, arrays: not a missing scalar
        return False


def state_badge(state: str | None) -> str:
    """'✅ done', '▶️ running', ..."""
    if not state:
        return "?"
    style = STATE_STYLES.get(state)
    return f"{style.icon if style else '•'} {state}"


def duration(seconds: float | None) -> str:
    """A short human duration: '42 s', '3 min 5 s', '2 h 14 min'."""
    if is_missing(seconds):
        return "–"
    total = max(0, round(float(seconds)))  # type: ignore[arg-type]
    if total < 60:
        return f"{total} s"
    minutes, sec = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {sec} s" if sec else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def timestamp(ts: float | None) -> str:
    """A Unix time as local 'YYYY-MM-DD HH:MM:SS' ('–' when missing)."""
    if is_missing(ts):
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(ts)))  # type: ignore[arg-type]


def age(ts: float | None, now: float | None = None) -> str:
    """'12 s ago', '3 min ago', ... ('never' when missing)."""
    if is_missing(ts):
        return "never"
    return f"{duration((now or time.time()) - float(ts))} ago"  # type: ignore[arg-type]


def number(value: Any, digits: int = 4) -> str:
    """A metric value for display: up to `digits` significant decimals, '–' when missing."""
    if is_missing(value):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    try:
        val = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isinf(val):
        return "∞" if val > 0 else "-∞"
    if val != 0 and abs(val) < 10**-digits:
        return f"{val:.2e}"
    text = f"{val:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def p_value(value: Any) -> str:
    """A p-value: '<0.001', '0.034', '–'."""
    if is_missing(value):
        return "–"
    val = float(value)
    return "<0.001" if val < 0.001 else f"{val:.3f}"


def fraction(done: Any, total: Any) -> float | None:
    """done / total clipped to [0, 1]; None when unknown."""
    if is_missing(done) or is_missing(total):
        return None
    try:
        tot = float(total)
        return None if tot <= 0 else min(1.0, max(0.0, float(done) / tot))
    except (TypeError, ValueError):
        return None


def short_hash(run_id: str) -> str:
    """The spec-hash suffix of a run id (its last 8 characters)."""
    return run_id.rsplit("-", 1)[-1] if "-" in run_id else run_id[-8:]


def size_of(model: str | None, size: Any = None) -> str:
    """'0.5B' from the store's model_size, else from the model's name, else its short name."""
    if not is_missing(size) and size:
        return str(size)
    if not model:
        return "?"
    return model_size(str(model))[0] or "?"


def run_label(row: Mapping[str, Any], with_hash: bool = True) -> str:
    """What a run is, in a few words: '0.5B MT-QLoRA #1a2b3c4d', '1.5B ST-QLoRA gen-python #...'."""
    label = row.get("label") or row.get("method") or "?"
    size = size_of(row.get("model"), row.get("model_size"))
    text = f"{size} {label}"
    tasks = row.get("tasks")
    if isinstance(tasks, Sequence) and not isinstance(tasks, str) and str(label).startswith("ST-"):
        text += " " + "+".join(str(t) for t in tasks)
    config = row.get("config")
    if config and config != label:
        text += f" ({config})"
    if with_hash and row.get("run_id"):
        text += f" #{short_hash(str(row['run_id']))}"
    return text


def params_b(model: str | None, size: Any = None, params: Any = None) -> float | None:
    """Model size in billions of parameters (for scaling plots), when known: the store's value, else
    parsed from the size label ('0.5B', '135M'), else from the model's name."""
    if not is_missing(params):
        return float(params)
    for text in (size, model):
        if not is_missing(text) and text:
            billions = model_size(str(text))[1]
            if billions is not None:
                return billions
    return None


def humanise(name: str) -> str:
    """'learning_rate' → 'learning rate'."""
    return name.replace("_", " ")


# --- the events timeline (Runs page, Events tab) -------------------------------------------------

# Progress events logged many times in a row: collapsed into one timeline row per stretch.
PROGRESS_EVENTS = ("train", "generate")


def value_text(value: Any) -> str:
    """A field of an event as short text: numbers via `number`, lists joined, mappings as 'k v'."""
    if isinstance(value, Mapping):
        if any(isinstance(v, Mapping) for v in value.values()):  # e.g. metrics per task: name the keys
            return ", ".join(str(k) for k in value)
        return ", ".join(f"{k} {value_text(v)}" for k, v in value.items() if not is_missing(v))
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, Mapping) and v for v in value):  # rows: name each by its first field
            return ", ".join(value_text(next(iter(v.values()))) for v in value)
        return ", ".join(value_text(v) for v in value)
    return "" if is_missing(value) else number(value)


def _event_name(event: Mapping[str, Any]) -> str:
    kind = str(event.get("type") or "event")
    if kind == "phase":
        return f"{event.get('phase', '?')} phase {event.get('status', '')}".strip()
    return {"train": "training steps", "generate": "generation progress"}.get(kind, humanise(kind))


def _event_details(event: Mapping[str, Any]) -> str:
    skip = {"t", "type"} | ({"phase", "status"} if event.get("type") == "phase" else set())
    parts = []
    for key, value in event.items():
        if key in skip or is_missing(value) or value in ("", [], {}):
            continue
        text = value_text(value)
        if key == "seconds":
            text = f"took {duration(value)}"
        elif key.endswith("hash"):
            text = f"{humanise(key)} {text[:8]}"  # the run id carries the same 8 characters
        else:
            text = f"{humanise(key)} {text}"
        parts.append(text)
    return " · ".join(parts)


def _collapsed(stretch: list[Mapping[str, Any]]) -> str:
    """One line for a stretch of progress events: first → last of what they report."""
    first, last = stretch[0], stretch[-1]
    if first.get("type") == "train":
        text = f"steps {value_text(first.get('step'))}–{value_text(last.get('step'))}"
        if not is_missing(first.get("loss")) and not is_missing(last.get("loss")):
            text += f" · loss {number(first['loss'], 3)} → {number(last['loss'], 3)}"
    else:
        text = f"{value_text(last.get('done'))} of {value_text(last.get('total'))} samples"
    return f"{text} ({len(stretch)} reports)"


def events_timeline(events: Sequence[Mapping[str, Any]], every_step: bool = False) -> pd.DataFrame:
    """A run's events as a readable timeline: local time, time since the first event, what happened
    and its details as text (no missing cells, no lists). Consecutive training-step and generation
    reports collapse into one row each unless `every_step`."""
    rows: list[dict[str, str]] = []
    start = next((float(e["t"]) for e in events if not is_missing(e.get("t"))), None)
    stretch: list[Mapping[str, Any]] = []

    def add(event: Mapping[str, Any], details: str) -> None:
        at = event.get("t")
        rows.append({
            "time": "" if is_missing(at) else time.strftime("%H:%M:%S", time.localtime(float(at))),
            "since start": "" if is_missing(at) or start is None else duration(float(at) - start),
            "event": _event_name(event),
            "details": details,
        })

    def flush() -> None:
        if stretch:
            add(stretch[0], _collapsed(stretch) if len(stretch) > 1 else _event_details(stretch[0]))
            stretch.clear()

    for event in events:
        if not every_step and event.get("type") in PROGRESS_EVENTS:
            if stretch and stretch[0].get("type") != event.get("type"):
                flush()
            stretch.append(event)
            continue
        flush()
        add(event, _event_details(event))
    flush()
    return pd.DataFrame(rows, columns=["time", "since start", "event", "details"])


# --- what a run is doing (Runs page placeholders) -------------------------------------------------


def _has_started_training(events: list[dict[str, Any]]) -> bool:
    return any(e.get("type") in ("train", "eval") for e in events)


def curves_waiting(detail: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """What the curves placeholder says before the first training step: what the run is doing."""
    state, phase = detail.get("state"), detail.get("phase")
    if detail.get("method") == "none":
        return "zero-shot run: it does not train, so there are no training curves"
    if _has_started_training(events):
        return "no training steps logged"
    if state == QUEUED:
        return "queued: the curves start when a worker runs its first training step"
    if state in (FAILED, CANCELLED):
        return f"the run stopped ({state}) before its first training step"
    if state == STALLED:
        return "stalled before the first training step: waiting for a worker to resume it"
    if phase == "prepare":
        return "preparing the data: waiting for the first training step"
    if phase == "train":
        return "training is starting (loading the model): waiting for the first training step"
    if state == DONE or (phase in PHASES and PHASES.index(phase) > PHASES.index("train")):
        return "no training steps were logged for this run"
    return "waiting for the first training step"


def progress_text(detail: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """The overall progress bar's caption: the share, and what the run is doing now."""
    state, phase = detail.get("state"), detail.get("phase")
    text = f"overall {detail['overall']:.0%}"
    if state == QUEUED:
        return text + " · queued: waiting for a worker"
    if state not in ACTIVE_STATES:
        return text
    done, total = detail.get("progress_done"), detail.get("progress_total")
    if fraction(done, total) is not None:
        return text + f" · {phase} {number(done)}/{number(total)}"
    if phase == "train" and detail.get("method") != "none" and not _has_started_training(events):
        return text + " · train: loading the model, waiting for the first step"
    return text + (f" · {phase}" if phase else "")


def train_path_text(events: Sequence[Mapping[str, Any]]) -> str | None:
    """How the run trained, in words, from its last `train_path` event (None before training)."""
    plans = [e for e in events if e.get("type") == "train_path"]
    if not plans:
        return None
    plan = plans[-1]
    split = (f"micro-batch {plan.get('micro_batch')} × {plan.get('grad_accum')} accumulation, gradient checkpointing "
             f"{'on' if plan.get('gradient_checkpointing') else 'off'}")
    if plan.get("speed") != "fast":
        return f"Trained on the reference path (TRL's SFTTrainer as configured): {split}."
    parts = [split]
    if plan.get("padding_free"):
        parts.append("padding-free rows (several examples per row, none attending to another)")
    if plan.get("chunked_loss"):
        parts.append(f"the loss in chunks ({plan.get('loss_backend', 'chunked')}), never holding the full logits")
    if plan.get("packed_linears"):
        parts.append("frozen linears on packed weights (the same products, laid out once)")
    if plan.get("fast_dropout"):
        parts.append("LoRA dropout masks from NumPy's PCG64 (nn.Dropout's distribution, other random draws than the "
                     "reference path's)")
    return ("Trained on the fast path: " + "; ".join(parts)
            + ". Per step it sees the same examples, loss and attention as the reference recipe.")
