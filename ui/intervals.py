"""Charts that carry their uncertainty: the Compare page's bars with 95% error bars, and the
model-size scaling lines with 95% bands (the intervals of ui.verdict_data.value_table: Wilson for
pass/fail, t otherwise). The bars replace ui.figures.metric_bars on Compare; the bands are laid over
ui.figures.scaling_lines, whose panels (one per task, three per row) they reuse.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative, unlabel_rgb

from ui import figures

BAND_OPACITY = 0.18


def metric_bars(values: pd.DataFrame, metric: str) -> go.Figure:
    """One metric per task, a bar per column with its 95% interval as error bars; `values`: the
    rows of value_table (task, metric, column, value, low, high, n, text)."""
    data = values[values["metric"] == metric]
    if data.empty:
        return figures.empty_figure(f"no {metric} values for these runs")
    fig = go.Figure()
    palette = qualitative.Plotly
    for i, (column, part) in enumerate(data.groupby("column", sort=False)):
        upper = (part["high"] - part["value"]).clip(lower=0)
        lower = (part["value"] - part["low"]).clip(lower=0)
        fig.add_trace(go.Bar(
            x=part["task"], y=part["value"], name=str(column), marker_color=palette[i % len(palette)],
            error_y={"type": "data", "array": upper.fillna(0).tolist(), "arrayminus": lower.fillna(0).tolist(),
                     "visible": bool(part["low"].notna().any())},
            customdata=part[["text"]].to_numpy(),
            hovertemplate=f"{column}<br>%{{x}}: %{{customdata[0]}}<extra></extra>",
        ))
    fig.update_layout(barmode="group", template=figures.TEMPLATE, height=380,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, hoverlabel={"namelength": -1},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
                      yaxis_title=metric, xaxis_title="task")
    return fig


def _translucent(colour: str) -> str:
    if colour.startswith("rgb("):
        r, g, b = unlabel_rgb(colour)
    else:
        text = colour.lstrip("#")
        r, g, b = (int(text[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({int(r)}, {int(g)}, {int(b)}, {BAND_OPACITY})"


def scaling_with_bands(data: pd.DataFrame, metric: str, paper: pd.DataFrame | None = None) -> go.Figure:
    """ui.figures.scaling_lines with each line's 95% band: `data` has task, config, params_b, size,
    value, and low / high (NaN where there is no interval)."""
    fig = figures.scaling_lines(data, metric, paper)
    lines = {t.legendgroup: t for t in fig.data if isinstance(t, go.Scatter) and t.legendgroup}
    if not lines or "low" not in data:
        return fig  # an empty-figure message: nothing to band
    rows = data.dropna(subset=["params_b", "low", "high"])
    tasks = sorted(data.dropna(subset=["params_b", "value"])["task"].unique())
    n_cols = min(3, len(tasks))
    for i, task in enumerate(tasks):  # the panel layout of figures.scaling_lines
        for config, part in rows[rows["task"] == task].groupby("config"):
            line = lines.get(config)
            if line is None or part.empty:
                continue
            part = part.sort_values("params_b")
            fig.add_trace(go.Scatter(
                x=[*part["params_b"], *part["params_b"][::-1]], y=[*part["high"], *part["low"][::-1]],
                fill="toself", fillcolor=_translucent(line.line.color), line={"width": 0}, mode="lines",
                legendgroup=config, showlegend=False, hoverinfo="skip", name=f"{config} 95% interval",
            ), row=i // n_cols + 1, col=i % n_cols + 1)
    return fig
