"""Cost and the quality-vs-cost frontier: Compare's "Cost and frontier" section and the run detail's
throughput line on the Runs page.

Per run (store.queries.run_costs, from the events the train phase records): trainable and total
parameters, the saved adapter (or model) size, peak memory, training time, tokens/s, GPU-hours on a
GPU and MFU (engine.scoring.cost: 4·N FLOPs per token for LoRA/QLoRA, 6·N for full fine-tuning,
against the device's peak dense bf16 FLOP/s). Per task, a chart of its headline metric
(engine.vocabulary.headline_metric) against a chosen cost, with the Pareto frontier (cost
minimised, metric maximised or minimised by its direction) marked and each point's n in its hover.
The chart builder lives here rather than in ui.figures: it serves this section only.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from engine.vocabulary import headline_metric
from store.queries.cost import mark_frontier
from ui import common, figures
from ui.formatting import duration, is_missing, number

# What a point's cost can be: selector label -> (run_costs column, axis title).
COSTS: dict[str, tuple[str, str]] = {
    "training time": ("train_seconds", "training time (s)"),
    "trainable parameters": ("trainable_params", "trainable parameters"),
    "peak memory": ("peak_mem_mb", "peak memory (MB)"),
    "GPU-hours": ("gpu_hours", "training GPU-hours"),
}
FRONTIER_COLOUR = "#d64545"


# --- formatting ---------------------------------------------------------------------------------


def count(value: object) -> str:
    """A parameter count: '494M', '4.4M', '0', '–'."""
    if is_missing(value):
        return "–"
    val = float(value)  # type: ignore[arg-type]
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(val) >= scale:
            return f"{val / scale:.3g}{unit}"
    return f"{val:.0f}"


def rate(value: object) -> str:
    """Tokens per second: '12,345', '–'."""
    return "–" if is_missing(value) else f"{float(value):,.0f}"  # type: ignore[arg-type]


def percent(value: object) -> str:
    """A share: '31.2%', '–'."""
    return "–" if is_missing(value) else f"{100 * float(value):.1f}%"  # type: ignore[arg-type]


def megabytes(value: object, scale: float = 1.0) -> str:
    """A size in MB ('1,024 MB', '0.86 MB', '–'); `scale` converts the input to MB."""
    if is_missing(value):
        return "–"
    val = float(value) * scale  # type: ignore[arg-type]
    return f"{val:,.0f} MB" if val >= 10 else f"{val:.2g} MB"


def cost_table(costs: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """The per-run cost table as shown (formatted text, one row per run)."""
    return pd.DataFrame({
        "run": [labels.get(r, r) for r in costs["run_id"]],
        "configuration": costs["label"],
        "trainable / total params": [f"{count(t)} / {count(n)}" for t, n in
                                     zip(costs["trainable_params"], costs["total_params"], strict=True)],
        "trainable %": costs["trainable_fraction"].map(percent),
        "saved weights": costs["weights_bytes"].map(lambda v: megabytes(v, 2**-20)),
        "peak memory": costs["peak_mem_mb"].map(megabytes),
        "training time": costs["train_seconds"].map(duration),
        "tokens/s": costs["tokens_per_s"].map(rate),
        "GPU-hours": costs["gpu_hours"].map(lambda v: number(v, 3)),
        "MFU": costs["mfu"].map(percent),
        "device": [_device(d, n, w) for d, n, w in
                   zip(costs["device"], costs["device_name"], costs["world_size"], strict=True)],
    })


def _device(device: object, name: object, world: object) -> str:
    if is_missing(device):
        return "–"
    text = str(name) if not is_missing(name) else str(device)
    return f"{world} × {text}" if not is_missing(world) and int(world) > 1 else text  # type: ignore[call-overload]


# --- the frontier ---------------------------------------------------------------------------------


def frontier_points(costs: pd.DataFrame, metrics: pd.DataFrame, cost_column: str,
                    labels: Mapping[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """(points, headline metric per task): one row per (run, task) with the task's headline metric,
    its n, the run's cost and whether it is on the task's Pareto frontier."""
    infos = common.metric_infos()
    headline: dict[str, str] = {}
    for task, part in metrics.groupby("task", sort=True):
        chosen = headline_metric(common.task_info(str(task)).get("family"), sorted(set(part["metric"])), infos)
        if chosen is not None:
            headline[str(task)] = chosen
    if not headline:
        return pd.DataFrame(), headline
    wanted = metrics[[headline.get(t) == m for t, m in zip(metrics["task"], metrics["metric"], strict=True)]]
    n = metrics[metrics["metric"] == "n"].set_index(["run_id", "task"])["value"]
    points = wanted[["run_id", "task", "metric", "value"]].merge(
        costs[["run_id", "label", cost_column]].rename(columns={cost_column: "cost"}), on="run_id", how="inner")
    points["n"] = [n.get((r, t)) for r, t in zip(points["run_id"], points["task"], strict=True)]
    points["run"] = points["run_id"].map(lambda r: labels.get(r, r))
    direction = {t: common.metric_info(m).higher_is_better for t, m in headline.items()}
    return mark_frontier(points, "cost", "value", "task", direction), headline


def frontier_figure(points: pd.DataFrame, headline: Mapping[str, str], cost_title: str,
                    log_x: bool = False) -> go.Figure:
    """Each task's headline metric against a cost, one panel per task (one figure: plotly's template
    costs ~0.2 s per figure): a point per run coloured by configuration, the Pareto frontier as a
    step line through the ringed frontier points; n in every hover."""
    shown = points.dropna(subset=["cost", "value"])
    tasks = [t for t in headline if t in set(shown["task"])]
    if not tasks:
        return figures.empty_figure("no run has both a headline metric value and this cost recorded")
    n_cols = min(2, len(tasks))
    n_rows = -(-len(tasks) // n_cols)
    fig = make_subplots(rows=n_rows, cols=n_cols, subplot_titles=[f"{t} · {headline[t]}" for t in tasks],
                        horizontal_spacing=0.08, vertical_spacing=0.3 / n_rows if n_rows > 1 else 0.1)
    palette = px.colors.qualitative.Set2
    colour = {c: palette[i % len(palette)] for i, c in enumerate(sorted(set(shown["label"].astype(str))))}
    # the legend: one entry per configuration (the points carry its colour); one trace per panel, not
    # per configuration, all added in one call: plotly validates every trace and every add_trace
    traces = [go.Scatter(x=[None], y=[None], mode="markers", name=label, marker={"size": 10, "color": hue})
              for label, hue in colour.items()]
    cells = [(1, 1)] * len(traces)
    axis_titles: dict[str, dict[str, str]] = {}
    for i, task in enumerate(tasks):
        row, col = i // n_cols + 1, i % n_cols + 1
        part, metric = shown[shown["task"] == task], headline[task]
        front = part[part["on_frontier"]].sort_values(["cost", "value"])
        traces.append(go.Scatter(
            x=part["cost"], y=part["value"], mode="markers", name=task, showlegend=False,
            marker={"size": 10, "color": [colour[str(c)] for c in part["label"]]},
            customdata=list(zip(part["run"], part["n"].map(lambda v: number(v, 0)), part["label"], strict=True)),
            hovertemplate=(f"%{{customdata[0]}} (%{{customdata[2]}})<br>{metric} %{{y:.4g}} "
                           f"(n = %{{customdata[1]}})<br>{cost_title} %{{x:.4g}}<extra>{task}</extra>"),
        ))
        traces.append(go.Scatter(
            x=front["cost"], y=front["value"], mode="lines+markers", name="Pareto frontier", line_shape="hv",
            legendgroup="frontier", showlegend=i == 0, line={"color": FRONTIER_COLOUR, "dash": "dot"},
            marker={"symbol": "circle-open", "size": 18, "color": FRONTIER_COLOUR, "line": {"width": 2}},
            hoverinfo="skip",
        ))
        cells += [(row, col), (row, col)]
        axis_titles[f"yaxis{i + 1 if i else ''}"] = {"title": metric}
    fig.add_traces(traces, rows=[r for r, _ in cells], cols=[c for _, c in cells])
    fig.update_layout(axis_titles)
    fig.update_xaxes(title_text=cost_title, type="log" if log_x else "linear")
    fig.update_layout(template=figures.TEMPLATE, height=120 + 300 * n_rows,
                      margin={"l": 10, "r": 10, "t": 60, "b": 10},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.04, "x": 0},
                      hoverlabel={"namelength": -1})
    return fig


# --- the sections -----------------------------------------------------------------------------------


def show(run_ids: list[str], labels: dict[str, str]) -> None:
    """Compare's "Cost and frontier" section for these runs (labels: run_id -> the name shown)."""
    costs = common.query("run_costs", run_ids=run_ids)
    if costs.empty:
        st.info("No cost figures for these runs.")
        return
    common.table(cost_table(costs, labels), "compare-cost", file_stem="cost", download_frame=costs)
    st.caption("Training figures from each run's events: tokens/s is the median logged training throughput "
               "(non-padding tokens); MFU counts 4·N FLOPs per token for LoRA/QLoRA and 6·N for full "
               "fine-tuning (N = total parameters) against the GPU's peak dense bf16 FLOP/s — on a CPU, "
               "tokens/s only. Zero-shot runs train nothing: their training cost is 0.")
    # a cost only zero-shot runs have (their 0) places nothing worth a chart
    available = [label for label, (column, _) in COSTS.items() if (costs[column].fillna(0) > 0).any()]
    if not available:
        st.caption("These runs recorded no cost figures yet (runs from before the cost was recorded, or "
                   "reference runs).")
        return
    cols = st.columns([2, 1])
    choice = cols[0].selectbox("cost axis", available, key="compare.cost_axis",
                               help="the cost each point is placed by (lower is cheaper)")
    log_x = cols[1].checkbox("log scale", value=False, key="compare.cost_log",
                             help="for costs spanning orders of magnitude (a zero cost is not drawn)")
    column, title = COSTS[choice]
    points, headline = frontier_points(costs, common.query("run_metrics", run_ids=run_ids), column, labels)
    if points.empty:
        st.caption("No headline metric values for these runs yet (they appear after the score phase).")
        return
    st.markdown(f"**Headline metric against {choice}**, per task (ringed: the Pareto frontier)")
    st.plotly_chart(frontier_figure(points, headline, title, log_x), key="compare-frontier")
    on = points[points["on_frontier"]].groupby("task", sort=True)["run"].agg(lambda r: ", ".join(dict.fromkeys(r)))
    if not on.empty:
        st.caption("On the frontier (nothing is both cheaper and better): "
                   + "; ".join(f"{task}: {runs}" for task, runs in on.items()))


def throughput_line(costs: pd.DataFrame) -> str | None:
    """The Runs page's line for one run's cost row: tokens/s, and MFU on a GPU (None: not trained)."""
    if costs.empty or is_missing(costs["tokens_per_s"].iloc[0]):
        return None
    row = costs.iloc[0]
    text = f"Training throughput **{rate(row['tokens_per_s'])} tokens/s**"
    if not is_missing(row["mfu"]):
        text += (f" · MFU **{percent(row['mfu'])}** of {row['device_name']}'s "
                 f"{float(row['peak_flops']) / 1e12:,.0f} TFLOP/s (dense bf16 peak)")
    elif row["device"] == "cuda":
        text += f" · MFU unknown: no peak FLOP/s on record for {row['device_name'] or 'this GPU'}"
    elif row["device"] == "cpu":
        text += " on the CPU (MFU is reported for GPUs)"
    extra = [f"peak memory {megabytes(row['peak_mem_mb'])}", f"training {duration(row['train_seconds'])}",
             f"{count(row['trainable_params'])} of {count(row['total_params'])} parameters trained"]
    return f"{text} · {' · '.join(extra)}"


def show_run(run_id: str) -> None:
    """On the Runs page: the run's throughput (and MFU on a GPU), as of the store's last sync."""
    line = throughput_line(common.query("run_costs", run_ids=[run_id]))
    if line:
        st.markdown(line)
