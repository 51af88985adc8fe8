"""How the report's numbers read, the same in the HTML page and the LaTeX tables: a value with its n
and interval (`0.667 (4/6) [0.300, 0.903]`, `0.312 [0.271, 0.353] n=164`), a signed difference with
its interval, a p-value; and the shown (formatted) forms of the verdict and value tables.

The CSV files keep the raw numbers; only the HTML and LaTeX read these strings.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ui.formatting import is_missing

MINUS = "\u2212"
# The cost columns the page and the LaTeX show (the CSV keeps every column of run_costs).
COST_SHOWN = ("column", "run_id", "method", "trainable_params", "total_params", "trainable_fraction",
              "weights_bytes", "peak_mem_mb", "train_seconds", "tokens_per_s", "gpu_hours", "mfu", "device_name")


def num(value: Any, signed: bool = False) -> str:
    """A number in 3 decimals below 10 (more digits would claim precision the n does not give),
    fewer above; '–' when missing; a typographic minus."""
    if is_missing(value):
        return "–"
    v = float(value)
    if not math.isfinite(v):
        return str(v)
    digits = 3 if abs(v) < 10 else 1 if abs(v) < 100 else 0
    text = f"{v:+,.{digits}f}" if signed else f"{v:,.{digits}f}"
    return text.replace("-", MINUS)


def flag(value: Any) -> bool:
    """A yes/no cell (numpy or Python bool, missing = no)."""
    return not is_missing(value) and bool(value)


def count(value: Any) -> str:
    """An integer count ('–' when missing)."""
    return "–" if is_missing(value) else f"{int(value):,}"


def interval(low: Any, high: Any, signed: bool = False) -> str:
    """'[low, high]', or '' when the interval is unknown."""
    if is_missing(low) or is_missing(high):
        return ""
    return f"[{num(low, signed)}, {num(high, signed)}]"


def p_value(value: Any) -> str:
    """'< 0.001', '0.042', or 'NA' (no test possible)."""
    if is_missing(value):
        return "NA"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


def value_cell(row: dict[str, Any]) -> str:
    """One value with its n and interval: '0.667 (4/6) [0.300, 0.903]' for pass/fail (k passing of n),
    '0.312 [0.271, 0.353] n=164' otherwise."""
    shown = num(row.get("value"))
    k, n = row.get("k"), row.get("n")
    if not is_missing(k) and not is_missing(n):
        shown += f" ({int(k)}/{int(n)})"
    bounds = interval(row.get("low"), row.get("high"))
    if bounds:
        shown += f" {bounds}"
    if is_missing(k) and not is_missing(n):
        shown += f" n={int(n)}"
    return shown


def values_wide(values: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Task × metric rows, one column per report column, each cell a `value_cell`."""
    if values.empty:
        return pd.DataFrame()
    frame = values[values["metric"] != "n"].copy()  # the sample count: every cell already says its n
    frame["cell"] = [value_cell(r) for r in frame.to_dict("records")]
    wide = frame.pivot_table(index=["task", "metric"], columns="column", values="cell", aggfunc="first")
    wide = wide[[c for c in order if c in wide.columns]].fillna("–")
    wide.columns = [str(c) for c in wide.columns]
    return wide.reset_index()


def verdict_rows(verdicts: pd.DataFrame, quality: bool = False) -> pd.DataFrame:
    """The verdict table as shown: task, metric, A, B, both values, Δ [95% CI], n, p (Holm), test,
    effect, a mark where n is small, and with `quality` the change in each code-quality figure
    (the 'Δ findings per sample (pylint)' columns of ui.verdict_data)."""
    if verdicts.empty:
        return pd.DataFrame()
    deltas = [c for c in verdicts.columns if quality and str(c).startswith("Δ ")]
    rows = []
    for r in verdicts.to_dict("records"):
        effect = num(r.get("effect_size"), signed=True)
        if not is_missing(r.get("effect_magnitude")) and r.get("effect_magnitude"):
            effect += f" ({r['effect_magnitude']})"
        rows.append({
            "task": r.get("task"), "metric": r.get("metric"), "A": r.get("label_a"), "B": r.get("label_b"),
            "value A": num(r.get("value_a")), "value B": num(r.get("value_b")),
            "Δ B − A [95% CI]": f"{num(r.get('diff'), True)} {interval(r.get('low'), r.get('high'), True)}".strip(),
            "n": count(r.get("n")) + (" (small)" if flag(r.get("small_n")) else ""),
            "p (Holm)": p_value(r.get("p_adjusted")),
            "test": r.get("test") or "–",
            "effect": effect,
            **{c: num(r.get(c), signed=True) for c in deltas},
        })
    shown = pd.DataFrame(rows)
    if shown["A"].nunique() == 1:  # one baseline (the table's title names it): one column fewer
        shown = shown.drop(columns="A").rename(columns={"B": "column", "value A": "baseline", "value B": "value",
                                                        "Δ B − A [95% CI]": "Δ vs baseline [95% CI]"})
    return shown


def cost_rows(costs: pd.DataFrame) -> pd.DataFrame:
    """The cost table as shown: the numeric columns formatted, identifiers kept."""
    if costs.empty:
        return pd.DataFrame()
    shown = costs[[c for c in COST_SHOWN if c in costs]].copy()
    for column in shown.columns:
        if column in ("column", "run_id", "method", "device", "device_name") or \
                pd.api.types.is_bool_dtype(shown[column]):
            continue
        numeric = pd.to_numeric(shown[column], errors="coerce")
        if numeric.notna().any() and shown[column].dtype != object:
            integral = numeric.dropna().eq(numeric.dropna().round()).all()
            shown[column] = numeric.map(lambda v, i=integral: count(v) if i else num(v))
    return shown
