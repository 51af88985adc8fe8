"""Every file of a report as bytes, then written to a folder (the command line) or zipped (the
Compare page's download):

    report.html            the page, self-contained
    <table>.csv            verdicts, values, costs, runs, fidelity: the raw numbers (tables with rows)
    <table>.tex            verdicts, values, costs as booktabs table floats to \\input
    report.tex             one article with those tables and the figures, compiles on its own
    figures/<name>.svg|pdf the figures
    specs/<run id>.json    each run's spec as submitted
    versions.json          python, torch, transformers, peft, trl, codetune, git commit
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pandas as pd

from engine.settings import Settings
from ui.report import build, html, images, latex


def _csv(frame: pd.DataFrame) -> bytes:
    """CSV with lists and dicts as JSON text, so every cell parses back."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(
                lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict, tuple)) else v)
    return out.to_csv(index=False).encode("utf-8")


def render(data: build.ReportData) -> dict[str, bytes]:
    """Relative path → content of every file of the report of `data`."""
    order = list(dict.fromkeys(data.selection.columns.values()))
    drawn = images.figures(data.values.frame, data.verdicts.frame, data.costs.frame, data.headlines, order)
    files: dict[str, bytes] = {}
    for table in data.tables():
        if table.available:
            files[f"{table.name}.csv"] = _csv(table.frame)
    tables = latex.fragments(data)
    for name, text in tables.items():
        files[f"{name}.tex"] = text.encode("utf-8")
    for image in drawn:
        files[f"figures/{image.name}.svg"] = image.svg
        files[f"figures/{image.name}.pdf"] = image.pdf
    files["report.tex"] = latex.document(data, tables, [(f"figures/{i.name}.pdf", i.caption) for i in drawn]
                                         ).encode("utf-8")
    for run_id, spec in data.specs.items():
        files[f"specs/{run_id}.json"] = json.dumps(spec, indent=2, sort_keys=True, default=str).encode("utf-8")
    files["versions.json"] = json.dumps(data.versions, indent=2).encode("utf-8")
    page = html.render(data, drawn, sorted(name for name in files if "/" not in name))
    return {"report.html": page.encode("utf-8"), **files}


def report_files(query: build.QueryFn, targets: list[str], settings: Settings, baseline: str | None = None,
                 resamples: int = 2000, seed: int = 0) -> dict[str, bytes]:
    """Resolve `targets` (a study, or runs), gather and render: the report's files."""
    selection = build.resolve(query, targets, baseline)
    return render(build.gather(query, selection, settings, resamples=resamples, seed=seed))


def write(files: dict[str, bytes], out_dir: Path) -> list[Path]:
    """Write the files under `out_dir` (created; files of an earlier report there are replaced)."""
    written = []
    for name, content in files.items():
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    return written


def zipped(files: dict[str, bytes], folder: str = "codetune-report") -> bytes:
    """The files in one zip, under `folder/`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"{folder}/{name}", content)
    return buffer.getvalue()
