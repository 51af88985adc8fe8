"""The report's figures as static images: each drawn once with matplotlib (no display, no pyplot, so
no global figure state) and saved as SVG (embedded in the HTML page) and PDF (for a paper).

- `values_figure`: per task, each column's headline metric as a bar with its 95% interval and n.
- `verdicts_figure`: per metric, each comparison's difference with its interval against zero
  (a forest plot); a hollow marker where n is small.
- `cost_figure`: per task, the headline metric against the training cost, the Pareto frontier
  joined (store.queries.cost.mark_frontier, as on the Compare page).

Every axis is scaled to its data (a metric on [0, 1] starts at 0; an all-zero series still gets a
visible range), so no panel draws an empty −1..1 axis.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from engine import api
from engine.vocabulary import describe_metric

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# SVG ids derive from this salt instead of a random one, so the same data gives the same file.
_RC = {"svg.hashsalt": "codetune-report", "font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
       "axes.spines.right": False}
_PANEL_W, _PANEL_H, _MAX_COLS = 4.2, 3.2, 3
# Cost columns of the store's run_costs, in the order the cost figure prefers them, with their axis label.
COST_AXES = (("gpu_hours", "GPU-hours"), ("train_seconds", "training time (s)"),
             ("trainable_params", "trainable parameters"), ("peak_mem_mb", "peak memory (MB)"))


@dataclass(frozen=True)
class Image:
    """One figure: file stem, title, caption, and the drawing as SVG and PDF bytes."""

    name: str
    title: str
    caption: str
    svg: bytes
    pdf: bytes


def _grid(count: int, heights: Sequence[float] | None = None) -> tuple[Figure, list[Axes]]:
    """`count` panels, up to three a row; with `heights` (inches), one full-width panel per row."""
    from matplotlib.figure import Figure

    if heights is not None:
        figure = Figure(figsize=(_PANEL_W * 2.4, sum(heights) + 0.3), layout="constrained")
        axes = figure.subplots(count, 1, squeeze=False, height_ratios=list(heights)).ravel().tolist()
        return figure, axes
    cols = min(count, _MAX_COLS)
    rows = math.ceil(count / cols)
    figure = Figure(figsize=(_PANEL_W * cols, _PANEL_H * rows + 0.4), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False).ravel().tolist()
    for extra in axes[count:]:
        extra.set_visible(False)
    return figure, axes[:count]


def _styled(draw: Callable[..., Image | None]) -> Callable[..., Image | None]:
    """Run a figure function under the report's style (and SVG salt), restored afterwards."""

    @functools.wraps(draw)
    def wrapper(*args: Any, **kwargs: Any) -> Image | None:
        import matplotlib

        with matplotlib.rc_context(_RC):
            return draw(*args, **kwargs)

    return wrapper


def _render(figure: Figure, name: str, title: str, caption: str) -> Image:
    svg, pdf = io.BytesIO(), io.BytesIO()
    figure.savefig(svg, format="svg", metadata={"Date": None})
    figure.savefig(pdf, format="pdf", metadata={"CreationDate": None})
    return Image(name, title, caption, svg.getvalue(), pdf.getvalue())


def _limits(lows: Sequence[float], highs: Sequence[float], info_low: float | None, info_high: float | None,
            zero: bool = False) -> tuple[float, float]:
    """An axis range that shows every value and interval: from the metric's floor when it has one
    (0 for a rate), never a zero-width range."""
    finite = [v for v in [*lows, *highs] if v is not None and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if zero:
        low, high = min(low, 0.0), max(high, 0.0)
    if info_low is not None and low >= info_low:
        low = info_low
    span = high - low
    if span <= 0:
        span = abs(high) or (info_high - info_low if info_high is not None and info_low is not None else 1.0)
        span = span or 1.0
        return low - (0 if low == info_low else 0.1 * span), high + 0.1 * span
    top = high + 0.12 * span
    if info_high is not None and high <= info_high < top:
        top = info_high + 0.02 * span
    return low - (0 if low == info_low else 0.08 * span), top


def _rgb(index: int) -> str:
    palette = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d")
    return palette[index % len(palette)]


@_styled
def values_figure(values: pd.DataFrame, headlines: dict[str, str], order: Sequence[str]) -> Image | None:
    """Bars of each column's headline metric per task, with 95% intervals and each bar's n."""
    if values.empty or not headlines:
        return None
    infos = api.metric_infos()
    panels = []
    for task, metric in sorted(headlines.items()):
        rows = values[(values["task"] == task) & (values["metric"] == metric) & values["value"].notna()]
        if not rows.empty:
            rows = rows.assign(position=rows["column"].map({c: i for i, c in enumerate(order)}))
            panels.append((task, metric, rows.sort_values("position")))
    if not panels:
        return None
    figure, axes = _grid(len(panels))
    for ax, (task, metric, rows) in zip(axes, panels, strict=True):
        info = describe_metric(metric, infos)
        value = rows["value"].astype(float)
        low = rows["low"].astype(float).fillna(value)
        high = rows["high"].astype(float).fillna(value)
        xs = range(len(rows))
        ax.bar(xs, value, color=[_rgb(order.index(c)) if c in order else "#888" for c in rows["column"]],
               yerr=[(value - low).clip(lower=0), (high - value).clip(lower=0)], capsize=4,
               error_kw={"elinewidth": 1, "ecolor": "#333"})
        ax.set_ylim(*_limits(list(low), list(high), info.low, info.high, zero=True))
        for x, top, n in zip(xs, high, rows["n"], strict=True):
            ax.annotate(f"n={int(n)}" if not pd.isna(n) else "n=?", (x, top), textcoords="offset points",
                        xytext=(0, 3), ha="center", fontsize=7, color="#444")
        ax.set_xticks(list(xs), [str(c) for c in rows["column"]], rotation=25, ha="right")
        ax.set_title(task)
        ax.set_ylabel(metric)
    return _render(figure, "values", "Headline metric per task",
                   "Each column's headline metric per task; whiskers: 95% interval (Wilson for pass/fail, t "
                   "otherwise); n above each bar.")


@_styled
def verdicts_figure(verdicts: pd.DataFrame) -> Image | None:
    """Each comparison's difference B − A with its 95% interval, one panel per metric, zero marked."""
    needed = {"task", "metric", "label_a", "label_b", "diff", "low", "high"}
    if verdicts.empty or not needed <= set(verdicts):
        return None
    rows = verdicts[verdicts["diff"].notna()]
    if rows.empty:
        return None
    metrics = list(dict.fromkeys(rows["metric"]))
    figure, axes = _grid(len(metrics), [1.0 + 0.32 * int((rows["metric"] == m).sum()) for m in metrics])
    for ax, metric in zip(axes, metrics, strict=True):
        part = rows[rows["metric"] == metric].reset_index(drop=True)
        ys = list(range(len(part)))[::-1]
        diff, low, high = (part[c].astype(float) for c in ("diff", "low", "high"))
        low, high = low.fillna(diff), high.fillna(diff)
        small = part["small_n"].fillna(False).astype(bool) if "small_n" in part else pd.Series(False, index=part.index)
        ax.axvline(0, color="#999", linewidth=1, linestyle="--")
        ax.errorbar(diff, ys, xerr=[(diff - low).clip(lower=0), (high - diff).clip(lower=0)], fmt="none",
                    ecolor="#333", capsize=3, elinewidth=1)
        ax.scatter(diff[~small], [y for y, s in zip(ys, small, strict=True) if not s], color="#4c78a8", zorder=3)
        ax.scatter(diff[small], [y for y, s in zip(ys, small, strict=True) if s], facecolors="white",
                   edgecolors="#e45756", zorder=3, label="small n")
        ax.set_yticks(ys, [f"{t}: {b} vs {a}" for t, a, b in zip(part["task"], part["label_a"], part["label_b"],
                                                                  strict=True)])
        ax.set_xlim(*_limits(list(low), list(high), None, None, zero=True))
        ax.set_ylim(-0.6, len(part) - 0.4)
        ax.set_xlabel(f"Δ {metric} (B − A)")
        ax.set_title(metric)
        if small.any():
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    return _render(figure, "verdicts", "Differences with their intervals",
                   "Each comparison's difference with its 95% paired-bootstrap interval; the dashed line is no "
                   "difference; hollow markers: too few samples to tell.")


def cost_axis(costs: pd.DataFrame) -> tuple[str, str] | None:
    """The cost column (and its axis label) the cost figure uses: the first with a value."""
    for column, label in COST_AXES:
        if column in costs and pd.to_numeric(costs[column], errors="coerce").fillna(0).gt(0).any():
            return column, label
    return None


def _frontier(rows: pd.DataFrame, higher_is_better: bool | None) -> list[bool]:
    """Which rows (cost, value) are on the Pareto frontier (store.queries.cost.mark_frontier, the
    Compare page's; no frontier is drawn where the store has none)."""
    try:
        from store.queries.cost import mark_frontier
    except ImportError:
        return [False] * len(rows)
    marked = mark_frontier(rows.assign(group="all"), "cost", "value", "group", {"all": higher_is_better})
    return [bool(on) for on in marked["on_frontier"]]


@_styled
def cost_figure(costs: pd.DataFrame, values: pd.DataFrame, headlines: dict[str, str]) -> Image | None:
    """Per task, the headline metric of each column against its training cost, the frontier joined."""
    axis = cost_axis(costs) if not costs.empty and "column" in costs else None
    if axis is None or values.empty or not headlines:
        return None
    column, label = axis
    numeric = pd.to_numeric(costs[column], errors="coerce").groupby(costs["column"])
    # a configuration's single-task runs add up their time and parameters; its memory is the largest
    cost = numeric.max() if column == "peak_mem_mb" else numeric.sum(min_count=1)
    infos = api.metric_infos()
    panels = []
    for task, metric in sorted(headlines.items()):
        rows = values[(values["task"] == task) & (values["metric"] == metric)].copy()
        rows["cost"] = rows["column"].map(cost)
        rows = rows.dropna(subset=["cost", "value"])
        if not rows.empty:
            panels.append((task, metric, rows.reset_index(drop=True)))
    if not panels:
        return None
    figure, axes = _grid(len(panels))
    for ax, (task, metric, rows) in zip(axes, panels, strict=True):
        info = describe_metric(metric, infos)
        mask = _frontier(rows[["cost", "value"]].astype(float), info.higher_is_better)
        ax.scatter(rows["cost"], rows["value"], color="#4c78a8", zorder=3)
        on = rows[mask].sort_values("cost")
        if not on.empty:
            ax.plot(on["cost"], on["value"], color="#e45756", linewidth=1.2, marker="o", markersize=11,
                    markerfacecolor="none", markeredgewidth=1.5, zorder=4, label="Pareto frontier")
            ax.legend(loc="best", fontsize=7, frameon=False)
        for x, y, name in zip(rows["cost"], rows["value"], rows["column"], strict=True):
            ax.annotate(str(name), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_ylim(*_limits(list(rows["value"]), list(rows["value"]), info.low, info.high))
        ax.set_xlim(*_limits(list(rows["cost"]), list(rows["cost"]), 0.0, None))
        ax.set_title(task)
        ax.set_xlabel(label)
        ax.set_ylabel(metric)
    return _render(figure, "cost", "Quality against cost",
                   f"Each column's headline metric against its {label} (a configuration's single-task runs "
                   "added up; for memory, the largest); the line joins the Pareto frontier: no other column "
                   "is both cheaper and better.")


def figures(values: pd.DataFrame, verdicts: pd.DataFrame, costs: pd.DataFrame, headlines: dict[str, str],
            order: Sequence[str]) -> list[Image]:
    """Every figure the report has data for, in the page's order."""
    drawn = [verdicts_figure(verdicts), values_figure(values, headlines, order),
             cost_figure(costs, values, headlines)]
    return [image for image in drawn if image is not None]
