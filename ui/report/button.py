"""The Compare page's "Download report" button: the report of what the page compares (its columns and
baseline) as a zip of ui.report.files, built only when the button is clicked, so the page pays
nothing for it on a render.
"""

from __future__ import annotations

import functools

import streamlit as st

from engine.settings import Settings
from store import queries
from ui import common
from ui.report import build, files


def _zip(selection: build.Selection, settings: Settings) -> bytes:
    query = functools.partial(queries.run_query, common.reader(settings))
    return files.zipped(files.render(build.gather(query, selection, settings)))


def show(columns: dict[str, str], baseline: str, key: str = "compare.report") -> None:
    """A download button for the report of `columns` (run id → column label) against `baseline` (a
    run id, a column label or a configuration, as the page's baseline selector gives it)."""
    if not columns:
        return
    labels = list(dict.fromkeys(columns.values()))
    selection = build.Selection(title=f"Compare: {len(labels)} column(s)", columns=dict(columns),
                                baseline=build.baseline_label(columns, baseline) or labels[0])
    st.download_button(
        "⬇ Download report",
        data=functools.partial(_zip, selection, common.current_settings()),
        file_name="codetune-report.zip",
        mime="application/zip",
        key=key,
        on_click="ignore",
        help="this comparison as a report to take away: an HTML page with the verdicts, values with n and "
        "intervals, cost, figures, fidelity notes, specs and versions, plus the tables as CSV and LaTeX "
        "(booktabs); `codetune report` writes the same from the command line",
    )
