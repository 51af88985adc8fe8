"""Formatting for the dashboard: durations, times, numbers, run labels and state badges.

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

from engine.vocabulary import STATE_STYLES, model_size


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
