"""Plotly figure builders for every chart of the dashboard (pages call these, never plotly directly).

Each builder takes plain data (a DataFrame or a list of event dicts) and returns a go.Figure with
the app's look (white template, compact margins, readable hover). None of them touches the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TEMPLATE = "plotly_white"
OUTCOME_COLOURS = {"passed": "#2e9e5b", "failed": "#d64545", "not executed": "#9aa5b1"}


def _style(fig: go.Figure, height: int = 360, title: str | None = None) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        height=height,
        margin={"l": 10, "r": 10, "t": 50 if title else 30, "b": 10},
        title=title,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hoverlabel={"namelength": -1},
    )
    return fig


def padded_range(values: Any, share: float = 0.08) -> list[float] | None:
    """A y range around the data: the span padded by `share`; a constant series gets a range around
    its value (±50% of it), since Plotly's default for zero span is ±1 (2e-4 drew as 0 on −1..1).
    None when there is no finite value."""
    series = pd.to_numeric(pd.Series(values, dtype="float64"), errors="coerce").dropna()
    if series.empty:
        return None
    low, high = float(series.min()), float(series.max())
    span = high - low
    if span <= max(abs(high), abs(low)) * 1e-9:
        pad = abs(high) * 0.5 or 1.0
        return [low - pad, high + pad]
    return [low - span * share, high + span * share]


def empty_figure(message: str, height: int = 200) -> go.Figure:
    """A blank chart carrying a message (when there is nothing to plot yet)."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        showarrow=False,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        font={"size": 14, "color": "#6b7785"},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _style(fig, height)


# --- runs ---------------------------------------------------------------------------------------


def events_frame(events: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A run's events as a DataFrame with the numeric fields the curves use."""
    frame = pd.DataFrame(list(events))
    for column in ("step", "loss", "lr", "tokens_per_s", "peak_mem_mb", "done", "total", "t", "epoch"):
        if column not in frame:
            frame[column] = pd.NA
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if "type" not in frame:
        frame["type"] = ""
    return frame


def training_curves(events: Sequence[Mapping[str, Any]], waiting: str = "no training steps logged yet") -> go.Figure:
    """Loss (train and eval), learning rate, tokens/s and peak memory against the optimiser step;
    `waiting` is the message shown before the first step (the Runs page says what is happening).
    Each y axis is fitted to its data (padded_range), so a constant learning rate shows its value."""
    frame = events_frame(events)
    train = frame[frame["type"] == "train"].dropna(subset=["step"])
    evals = frame[(frame["type"] == "eval") & frame["loss"].notna()].dropna(subset=["step"])
    if train.empty and evals.empty:
        return empty_figure(waiting)
    fig = make_subplots(
        rows=2,
        cols=2,
        shared_xaxes=True,
        vertical_spacing=0.14,
        horizontal_spacing=0.08,
        subplot_titles=("loss", "learning rate", "tokens / s", "peak memory (MB)"),
    )
    fig.add_trace(
        go.Scatter(
            x=train["step"],
            y=train["loss"],
            mode="lines+markers",
            name="train loss",
            marker={"size": 4},
            line={"color": "#2f6fde"},
        ),
        row=1,
        col=1,
    )
    if not evals.empty:
        fig.add_trace(
            go.Scatter(
                x=evals["step"],
                y=evals["loss"],
                mode="lines+markers",
                name="eval loss",
                marker={"size": 7, "symbol": "diamond"},
                line={"color": "#e07b39"},
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(x=train["step"], y=train["lr"], mode="lines", name="learning rate", line={"color": "#7b6f8f"}),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(x=train["step"], y=train["tokens_per_s"], mode="lines", name="tokens/s", line={"color": "#2e9e5b"}),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=train["step"],
            y=train["peak_mem_mb"],
            mode="lines",
            name="peak memory",
            line={"color": "#d64545"},
        ),
        row=2,
        col=2,
    )
    fig.update_xaxes(title_text="step", row=2, col=1)
    fig.update_xaxes(title_text="step", row=2, col=2)
    fig.update_yaxes(exponentformat="e", row=1, col=2)
    if train["step"].nunique() <= 10:  # a few steps: whole-number ticks, not 1.2, 1.4, ...
        fig.update_xaxes(dtick=1)
    fig = _style(fig, 480)
    # Below the panels: above them the legend covered the subplot titles.
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0})
    panels = {(1, 1): pd.concat([train["loss"], evals["loss"]]), (1, 2): train["lr"],
              (2, 1): train["tokens_per_s"], (2, 2): train["peak_mem_mb"]}
    for (row, col), values in panels.items():
        fitted = padded_range(values)
        if fitted is not None:
            fig.update_yaxes(range=fitted, row=row, col=col)
    return fig


def generation_progress(events: Sequence[Mapping[str, Any]]) -> go.Figure | None:
    """Samples generated over time (None when the run has not generated yet). With one progress
    report (one batch) there is no curve to draw: the figure is the number itself."""
    frame = events_frame(events)
    gen = frame[frame["type"] == "generate"].dropna(subset=["done", "t"])
    if gen.empty:
        return None
    total = gen["total"].dropna()
    if gen["t"].nunique() < 2:
        fig = go.Figure(
            go.Indicator(
                mode="number",
                value=float(gen["done"].max()),
                number={"suffix": f" / {int(total.max())}" if not total.empty else "", "valueformat": ",d"},
                title={"text": "samples generated (one batch so far)"},
            )
        )
        return _style(fig, 180)
    start = gen["t"].min()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=gen["t"] - start,
            y=gen["done"],
            mode="lines+markers",
            name="generated",
            line={"color": "#2f6fde"},
        )
    )
    if not total.empty:
        fig.add_hline(y=float(total.max()), line_dash="dot", annotation_text=f"total {int(total.max())}")
    fig.update_xaxes(title_text="seconds since generation started", rangemode="tozero")
    fig.update_yaxes(title_text="samples", rangemode="tozero")
    return _style(fig, 260, "generation progress")


def study_grid(cells: pd.DataFrame) -> go.Figure:
    """Models × configurations: each cell's share of finished runs, with 'done/total' and states.

    `cells` columns: model, config, n_runs, n_done, progress (0–1), text.
    """
    if cells.empty:
        return empty_figure("this study has no runs")
    z = cells.pivot_table(index="model", columns="config", values="progress", aggfunc="first")
    text = cells.pivot_table(index="model", columns="config", values="text", aggfunc="first")
    fig = go.Figure(
        go.Heatmap(
            z=z.values,
            x=list(z.columns),
            y=list(z.index),
            text=text.reindex_like(z).values,
            texttemplate="%{text}",
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar={"title": "done"},
            hovertemplate="%{y}<br>%{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _style(fig, 120 + 60 * len(z.index), None)


# --- compare ------------------------------------------------------------------------------------


def metric_bars(frame: pd.DataFrame, metric: str) -> go.Figure:
    """One metric per task, a bar per run (or configuration); `frame`: task, column, value."""
    data = frame[frame["metric"] == metric]
    if data.empty:
        return empty_figure(f"no {metric} values for these runs")
    fig = px.bar(
        data,
        x="task",
        y="value",
        color="column",
        barmode="group",
        labels={"value": metric, "column": "run", "task": "task"},
    )
    return _style(fig, 380)


def delta_heatmap(delta: pd.DataFrame, baseline: str) -> go.Figure:
    """Δ vs the baseline for each (task, metric) row and run column (green better, red worse)."""
    if delta.empty:
        return empty_figure("no deltas: pick a baseline that has metrics")
    rows = [f"{t} · {m}" for t, m in delta.index]
    values = delta.to_numpy(dtype=float)
    finite = values[~pd.isna(values)]
    if finite.size == 0 or not finite.any():
        # One run (the baseline against itself) gives a grid of zeros that reads like a result.
        return empty_figure("every Δ is 0: only the baseline is selected, or the runs agree exactly")
    scale = float(pd.Series(abs(values.ravel())).max(skipna=True) or 1.0)
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=[str(c) for c in delta.columns],
            y=rows,
            zmid=0,
            zmin=-scale,
            zmax=scale,
            colorscale="RdYlGn",
            texttemplate="%{z:.3f}",
            colorbar={"title": "Δ"},
            hovertemplate="%{y}<br>%{x}<br>Δ %{z:.4f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _style(fig, 140 + 24 * len(rows), f"difference to the baseline ({baseline})")


def scaling_lines(frame: pd.DataFrame, metric: str, paper: pd.DataFrame | None = None) -> go.Figure:
    """Metric against model size per configuration, one panel per task (three per row); the
    paper's values dashed.

    `frame`: task, config, params_b, size, value. `paper`: task, config, params_b, value.
    """
    data = frame.dropna(subset=["params_b", "value"])
    if data.empty:
        return empty_figure(f"no {metric} values with a known model size")
    has_paper = paper is not None and not paper.empty
    if data["params_b"].nunique() < 2 and not has_paper:
        # One size per configuration: a panel of single dots says nothing a table does not.
        return empty_figure("one model size only: a scaling line needs two or more sizes (values in the table)")
    tasks = sorted(data["task"].unique())
    n_cols = min(3, len(tasks))
    n_rows = -(-len(tasks) // n_cols)
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        subplot_titles=tasks,
        shared_yaxes=True,
        horizontal_spacing=0.05,
        vertical_spacing=0.22 if n_rows > 1 else 0.1,
    )
    palette = px.colors.qualitative.Set2
    configs = sorted(set(data["config"]) | (set(paper["config"]) if has_paper else set()))
    colour = {c: palette[i % len(palette)] for i, c in enumerate(configs)}
    shown: set[str] = set()
    sizes = sorted(set(data["params_b"]) | (set(paper["params_b"].dropna()) if has_paper else set()))

    def add(part: pd.DataFrame, name: str, group: str, row: int, col: int, dash: str | None) -> None:
        fig.add_trace(
            go.Scatter(
                x=part["params_b"],
                y=part["value"],
                mode="lines+markers",
                name=name,
                legendgroup=group,
                showlegend=group not in shown,
                line={"color": colour[part["config"].iloc[0]], "dash": dash},
                marker={"symbol": "x" if dash else "circle"},
                hovertemplate=f"{name}<br>%{{x}}B: %{{y:.4f}}<extra></extra>",
            ),
            row=row,
            col=col,
        )
        shown.add(group)

    for i, task in enumerate(tasks):
        row, col = i // n_cols + 1, i % n_cols + 1
        for config in configs:
            part = data[(data["task"] == task) & (data["config"] == config)].sort_values("params_b")
            if not part.empty:
                add(part, config, config, row, col, None)
            if has_paper:
                assert paper is not None
                ref = paper[(paper["task"] == task) & (paper["config"] == config)].sort_values("params_b")
                if not ref.empty:
                    add(ref, f"{config} (paper)", f"paper-{config}", row, col, "dash")
        fig.update_xaxes(type="log", tickvals=sizes, ticktext=[f"{s:g}B" for s in sizes], row=row, col=col)
        if col == 1:
            fig.update_yaxes(title_text=metric, row=row, col=col)
    fig = _style(fig, 140 + 260 * n_rows)
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.08, "x": 0})
    return fig


# --- quality ------------------------------------------------------------------------------------


def findings_bars(frame: pd.DataFrame) -> go.Figure:
    """Findings per analysed sample, by run, stacked by category within one panel per tool.

    Tools are never stacked together: two analysers of the same code (checkstyle-sun and
    checkstyle-google) would count the same lines twice. Each panel has its own y axis.
    """
    if frame.empty:
        return empty_figure("no findings for these runs")
    data = frame.copy()
    tools = sorted(data["tool"].astype(str).unique())
    n_cols = min(3, len(tools))
    n_rows = -(-len(tools) // n_cols)
    fig = px.bar(
        data,
        x="run",
        y="per_sample",
        color="category",
        facet_col="tool",
        facet_col_wrap=n_cols,
        facet_row_spacing=0.25 / n_rows if n_rows > 1 else 0.03,
        category_orders={"tool": tools},
        barmode="stack",
        hover_data=["task", "n_findings", "n_samples"],
        labels={"per_sample": "findings per sample", "run": ""},
    )
    fig.update_yaxes(matches=None, showticklabels=True, rangemode="tozero")
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    return _style(fig, 120 + 300 * n_rows)


def rule_bars(frame: pd.DataFrame) -> go.Figure:
    """The most frequent rules (horizontal bars)."""
    if frame.empty:
        return empty_figure("no findings")
    data = frame.copy()
    data["rule"] = data["tool"].astype(str) + " " + data["rule_id"].astype(str)
    fig = px.bar(
        data.iloc[::-1],
        x="n_findings",
        y="rule",
        color="category",
        orientation="h",
        hover_data=["severity", "n_samples", "n_runs"],
        labels={"n_findings": "findings", "rule": ""},
    )
    return _style(fig, 120 + 22 * len(data))


def distribution(frame: pd.DataFrame, measure: str, kind: str = "box") -> go.Figure:
    """A measure's per-sample distribution per run (box or violin); `frame`: run, value, task."""
    if frame.empty:
        return empty_figure(f"no values of {measure}")
    if frame["value"].nunique() == 1:  # a box of zero height on a −1..1 axis: say the number instead
        return empty_figure(f"every sample has {measure} = {frame['value'].iloc[0]:g}")
    maker = px.violin if kind == "violin" else px.box
    extra = {"box": True, "points": False} if kind == "violin" else {"points": False}
    fig = maker(frame, x="run", y="value", color="run", labels={"value": measure, "run": ""}, **extra)
    fig.update_layout(showlegend=False)
    return _style(fig, 400)


def quality_vs_correctness(frame: pd.DataFrame, measure: str) -> go.Figure:
    """A measure's distribution split by test outcome (passed / failed / not executed), per run."""
    if frame.empty:
        return empty_figure(f"no {measure} values next to test outcomes")
    if frame["value"].nunique() == 1:
        return empty_figure(f"every sample has {measure} = {frame['value'].iloc[0]:g}, whatever its test outcome")
    fig = px.box(
        frame,
        x="run",
        y="value",
        color="outcome",
        color_discrete_map=OUTCOME_COLOURS,
        labels={"value": measure, "run": "", "outcome": "tests"},
        points=False,
    )
    return _style(fig, 400)


# --- data ---------------------------------------------------------------------------------------


def dataset_counts(frame: pd.DataFrame) -> go.Figure:
    """Examples per task and split (log scale: 99 to 10,300)."""
    long = frame.melt(
        id_vars=["task"],
        value_vars=[c for c in ("train", "valid", "test") if c in frame],
        var_name="split",
        value_name="examples",
    ).dropna(subset=["examples"])
    if long.empty:
        return empty_figure("no datasets found")
    fig = px.bar(long, x="task", y="examples", color="split", barmode="group", log_y=True, text="examples")
    fig.update_traces(textposition="outside")
    return _style(fig, 360)


def mixture_shares(shares: pd.DataFrame) -> go.Figure:
    """The realised training mixture, two panels with their own scales: examples drawn per task
    (unique vs repeated) and the share of each task's available examples that was used. (On one
    axis, 32 drawn examples were invisible next to 10,000 available.)"""
    if shares.empty:
        return empty_figure("no training data (zero-shot runs do not train)")
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=("examples drawn for training", "share of the available examples used"),
    )
    fig.add_trace(
        go.Bar(x=shares["task"], y=shares["unique"], name="unique examples", marker_color="#2f6fde"), row=1, col=1
    )
    fig.add_trace(
        go.Bar(x=shares["task"], y=shares["repeats"], name="repeats (over-sampled)", marker_color="#e07b39"),
        row=1,
        col=1,
    )
    available = pd.to_numeric(shares["available"], errors="coerce")
    used = pd.to_numeric(shares["unique"], errors="coerce") / available.where(available > 0)
    fig.add_trace(
        go.Bar(
            x=shares["task"],
            y=used,
            name="used of available",
            marker_color="#7b6f8f",
            text=[
                f"{int(u):,} of {int(a):,}" if pd.notna(a) and pd.notna(u) else "–"
                for u, a in zip(pd.to_numeric(shares["unique"], errors="coerce"), available, strict=True)
            ],
            textposition="outside",
            cliponaxis=False,
        ),
        row=1,
        col=2,
    )
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title_text="training examples", rangemode="tozero", row=1, col=1)
    top = float(used.max()) if used.notna().any() else 1.0
    fig.update_yaxes(tickformat=".0%", range=[0, min(1.0, top * 1.3) or 1.0], row=1, col=2)
    return _style(fig, 340)
