"""The report as one self-contained HTML page: its style inline, the figures as data: URIs, every
text escaped, and nothing loaded from anywhere else (it opens offline and can be mailed as is).

Sections: the answer (one reading per verdict), the verdicts, the values with n and intervals, the
cost, the runs, the differences from the reference recipe, each run's spec, and the versions.
"""

from __future__ import annotations

import base64
import html
import json
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ui.formatting import is_missing
from ui.report import cells
from ui.report.build import ReportData, Table
from ui.report.images import Image

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
     padding:0 1.5rem;color:#1f2328;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.25rem;margin-top:2.2rem;border-bottom:1px solid #d0d7de}
.meta,.note{color:#59636e;font-size:.9rem} nav a{margin-right:1rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.85rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #1f2328;white-space:nowrap} td.num{text-align:right;white-space:nowrap}
td.short{white-space:nowrap} td.id{white-space:nowrap;font-family:ui-monospace,monospace;font-size:.78rem}
.wrap{overflow-x:auto} figure{margin:1rem 0} figure img{max-width:100%;height:auto}
figcaption{color:#59636e;font-size:.85rem} pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;font-size:.8rem}
li.small{color:#9a6700} .na{color:#9a6700}
"""
_SHORT = 40  # cells up to this many characters never wrap (labels, numbers with their intervals)


def _e(value: Any) -> str:
    return html.escape("" if is_missing(value) else str(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def table_html(frame: pd.DataFrame, numeric: Sequence[str] = ()) -> str:
    """A table, every cell escaped; numbers (and the columns named in `numeric`) right-aligned."""
    if frame.empty:
        return ""
    head = "".join(f"<th>{_e(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        tds = []
        for column, value in zip(frame.columns, row, strict=True):
            shown = cells.num(value) if isinstance(value, float) else value
            klass = ' class="num"' if _is_number(value) or column in numeric else \
                ' class="id"' if column == "run_id" else ' class="short"' if len(str(shown)) <= _SHORT else ""
            tds.append(f"<td{klass}>{_e(shown)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f'<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def figure_html(image: Image) -> str:
    """The figure as an <img> with its SVG in a data: URI (ids and styles stay inside the image)."""
    data = base64.b64encode(image.svg).decode("ascii")
    return (f'<figure id="figure-{_e(image.name)}"><img alt="{_e(image.title)}" '
            f'src="data:image/svg+xml;base64,{data}"><figcaption>{_e(image.caption)}</figcaption></figure>')


def _section(anchor: str, title: str, table: Table | None, body: str) -> str:
    note = ""
    if table is not None and table.note:
        klass = "note na" if table.note.startswith("Not available") else "note"
        note = f'<p class="{klass}">{_e(table.note)}</p>'
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>{note}{body}</section>'


def _answer(data: ReportData) -> str:
    frame = data.verdicts.frame
    if frame.empty or "reading" not in frame:
        return '<p class="note na">No verdict: see the verdicts section for why.</p>'
    items = []
    for row in frame.to_dict("records"):
        klass = ' class="small"' if cells.flag(row.get("small_n")) else ""
        items.append(f"<li{klass}>{_e(row.get('reading'))}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _images(images: Sequence[Image], name: str) -> str:
    return "".join(figure_html(i) for i in images if i.name == name)


def _specs(data: ReportData) -> str:
    if not data.specs:
        return '<p class="note">No run directory to read a spec from (reference runs only).</p>'
    parts = []
    for run_id, spec in data.specs.items():
        label = data.selection.columns.get(run_id, run_id)
        text = json.dumps(spec, indent=2, sort_keys=True, default=str)
        parts.append(f"<details><summary>{_e(label)} — <code>{_e(run_id)}</code></summary><pre>{_e(text)}</pre>"
                     "</details>")
    return "".join(parts)


def _files(files: Sequence[str]) -> str:
    if not files:
        return ""
    listed = ", ".join(f"<code>{_e(f)}</code>" for f in files)
    return f'<p class="note">Beside this page: {listed}.</p>'


def render(data: ReportData, images: Sequence[Image], files: Sequence[str] = ()) -> str:
    """The whole page."""
    selection = data.selection
    order = list(dict.fromkeys(selection.columns.values()))
    left = ""
    if selection.left_out:
        left = f'<p class="note na">Left out (not finished): {_e(", ".join(selection.left_out))}.</p>'
    sections = [
        _section("answer", "The answer", None, _answer(data)),
        _section("verdicts", data.verdicts.title, data.verdicts,
                 _images(images, "verdicts")
                 + table_html(cells.verdict_rows(data.verdicts.frame, quality=True), ["n"])),
        _section("values", data.values.title, data.values,
                 _images(images, "values") + table_html(cells.values_wide(data.values.frame, order))),
        _section("cost", data.costs.title, data.costs,
                 _images(images, "cost") + table_html(cells.cost_rows(data.costs.frame))),
        _section("runs", data.runs.title, data.runs, table_html(data.runs.frame) + left),
        _section("fidelity", data.fidelity.title, data.fidelity, table_html(data.fidelity.frame)),
        _section("specs", "Specs", None, _specs(data)),
        _section("versions", "Versions", None,
                 table_html(pd.DataFrame({"": list(data.versions), "version": list(data.versions.values())})) +
                 '<p class="note">Of the environment that wrote this report.</p>'),
    ]
    anchors = (("answer", "Answer"), ("verdicts", "Verdicts"), ("values", "Values"), ("cost", "Cost"),
               ("runs", "Runs"), ("fidelity", "Fidelity"), ("specs", "Specs"), ("versions", "Versions"))
    nav = "".join(f'<a href="#{a}">{t}</a>' for a, t in anchors)
    meta = (f"Generated {_e(data.generated_at)} by CodeTune Studio · {len(order)} column(s) from "
            f"{len(selection.columns)} run(s) · baseline <b>{_e(selection.baseline)}</b>")
    if selection.study_id:
        meta += f" · study <code>{_e(selection.study_id)}</code>"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>CodeTune report — {_e(selection.title)}</title><style>{_STYLE}</style></head><body>"
            f"<header><h1>CodeTune report — {_e(selection.title)}</h1><p class=\"meta\">{meta}</p>"
            f"<nav>{nav}</nav></header>{''.join(sections)}<footer>{_files(files)}</footer></body></html>\n")
