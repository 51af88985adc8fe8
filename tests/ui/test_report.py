"""The report to take away (ui/report): `codetune report` and the Compare page's button, from the seeded
store (tests/ui/conftest.py): the HTML page holds the verdicts, every table with n, the figures as
embedded images and nothing fetched from elsewhere, and the versions; the CSV files parse back; the
LaTeX uses booktabs, is escaped, and compiles where a TeX engine is installed (else its structure is
checked)."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from engine.settings import load_settings
from tests.ui.conftest import TASKS
from tests.ui.helpers import open_page
from ui import cli
from ui.report import build, button, cells, images, latex

EXTERNAL = re.compile(r"""\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)
TEX_ENGINES = ("pdflatex", "lualatex", "tectonic")


def _section(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.DOTALL)
    assert match, f"no {anchor} section"
    return match.group(1)


@pytest.fixture(scope="module")
def study_report(seeded_home, data_dir, tmp_path_factory) -> Path:
    """The seeded study's report, written once by `codetune report` (exit 0)."""
    out = tmp_path_factory.mktemp("report") / "study"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CODETUNE_HOME", str(seeded_home.home))
        mp.delenv("CODETUNE_RUNS_DIR", raising=False)
        mp.delenv("CODETUNE_DB", raising=False)
        mp.setenv("CODETUNE_DATA_DIR", str(data_dir))
        assert cli.main(["report", seeded_home.study_id, "--out", str(out), "--resamples", "200"]) == 0
    return out


def test_the_html_page_holds_verdicts_values_with_n_figures_and_versions(study_report, seeded_home):
    page = (study_report / "report.html").read_text(encoding="utf-8")
    verdicts = _section(page, "verdicts")
    rows = re.findall(r"<tr>(.*?)</tr>", verdicts)
    for task in TASKS:  # a verdict row per task, each with its n
        assert any(re.search(rf"<td[^>]*>{task}</td>", r) and re.search(r'<td class="num">\d+', r) for r in rows), task
    assert "0.5B MT-QLoRA" in verdicts and "0.5B zero-shot" in verdicts
    assert "n = " in _section(page, "answer")  # the plain-language readings
    values = _section(page, "values")
    shown = re.findall(r"<td[^>]*>([^<]*\[[^<]*)</td>", values)  # every value cell with an interval
    assert shown and all("n=" in c or re.search(r"\(\d+/\d+\)", c) for c in shown), shown[:5]
    assert "(4/6)" in values  # MT-QLoRA's gen-python pass@1 = 4/6, with its k/n
    assert page.count('src="data:image/svg+xml;base64,') >= 2  # the verdicts and values figures
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert "<script" not in page and "<link" not in page
    versions = _section(page, "versions")
    for name in ("python", "torch", "transformers", "peft", "trl", "codetune", "git commit"):
        assert re.search(rf"<td[^>]*>{name}</td>", versions), name
    assert seeded_home.mt_large in _section(page, "specs")
    assert "left out" in _section(page, "runs").lower() and seeded_home.failed in page  # the failed run, said


def test_the_csv_files_parse_back(study_report, seeded_home):
    verdicts = pd.read_csv(study_report / "verdicts.csv")
    assert set(TASKS) <= set(verdicts["task"])
    assert {"n", "diff", "low", "high", "p_adjusted", "reading"} <= set(verdicts.columns)
    assert (verdicts["low"] <= verdicts["diff"] + 1e-12).all() and (verdicts["diff"] <= verdicts["high"] + 1e-12).all()
    values = pd.read_csv(study_report / "values.csv")
    mt = values[(values["column"] == "0.5B MT-QLoRA") & (values["task"] == "gen-python")
                & (values["metric"] == "pass@1")]
    assert mt["value"].iloc[0] == pytest.approx(seeded_home.mt_pass1) and mt["n"].iloc[0] == 6
    runs = pd.read_csv(study_report / "runs.csv")
    assert seeded_home.mt in set(runs["run_id"]) and seeded_home.failed not in set(runs["run_id"])


def _tabulars(tex: str) -> list[str]:
    return re.findall(r"\\begin\{tabular\}.*?\\end\{tabular\}", tex, re.DOTALL)


def test_the_latex_tables_are_booktabs_escaped_and_compile(study_report):
    for name in ("verdicts", "values"):
        tex = (study_report / f"{name}.tex").read_text(encoding="utf-8")
        (body,) = _tabulars(tex)
        assert body.index(r"\toprule") < body.index(r"\midrule") < body.index(r"\bottomrule")
        assert r"\hline" not in body
        assert not re.search(r"(?<!\\)[_%#]", body), name  # every _ % # escaped (task names: gen\_python)
        assert r"gen-python" in body and r"\%" in tex  # 95\% in the caption / header
    values = (study_report / "values.tex").read_text(encoding="utf-8")
    assert "4/6" in values and "[" in values  # n and intervals in the LaTeX too
    document = (study_report / "report.tex").read_text(encoding="utf-8")
    engine = next((shutil.which(e) for e in TEX_ENGINES if shutil.which(e)), None)
    if engine is None:  # no TeX here: the structure a compiler needs
        assert document.startswith("\\documentclass") and "\\usepackage{booktabs}" in document
        assert document.rstrip().endswith("\\end{document}")
        for env in ("document", "table", "tabular", "figure"):
            assert document.count(f"\\begin{{{env}}}") == document.count(f"\\end{{{env}}}"), env
        assert len(_tabulars(document)) >= 2
        return
    args = [engine, "report.tex"] if engine.endswith("tectonic") else [engine, "-interaction=nonstopmode", "report.tex"]
    done = subprocess.run(args, cwd=study_report, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (study_report / "report.pdf").stat().st_size > 0


def test_latex_escaping():
    assert latex.escape("a_b 50% R&D #1 $x {y} ~^\\") == (
        r"a\_b 50\% R\&D \#1 \$x \{y\} \textasciitilde{}\textasciicircum{}\textbackslash{}")
    assert latex.escape("\u22120.1 \u0394") == r"$-$0.1 $\Delta$"


def test_value_cells_carry_n_and_the_interval():
    assert cells.value_cell({"value": 0.25, "n": 4, "k": 1, "low": 0.046, "high": 0.699}) == \
        "0.250 (1/4) [0.046, 0.699]"
    assert cells.value_cell({"value": 0.312, "n": 164, "k": None, "low": 0.27, "high": 0.35}) == \
        "0.312 [0.270, 0.350] n=164"
    assert cells.num(-1.5, signed=True) == "\u22121.500"


def test_axes_are_never_empty_or_flat():
    low, high = images._limits([0.0, 0.0], [0.0, 0.0], 0.0, 1.0, zero=True)  # pylint: disable=protected-access
    assert low == 0.0 and 0 < high <= 1.0
    low, high = images._limits([0.2], [0.6], 0.0, 1.0)  # pylint: disable=protected-access
    assert low == 0.0 and 0.6 < high <= 1.02


def test_runs_report_and_a_missing_part_says_not_available(seeded, tmp_path, monkeypatch):
    def broken(function, *args, **kwargs):
        raise RuntimeError(f"{function} exploded")

    monkeypatch.setattr(build, "_from_verdict_data", broken)
    out = tmp_path / "runs"
    assert cli.main(["report", seeded.mt, seeded.zero[:30], "--out", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Not available: RuntimeError: verdict_table exploded" in page
    assert "0.5B MT-QLoRA" in page and "0.5B zero-shot" in page  # the runs and specs are still there
    assert not (out / "verdicts.csv").exists() and (out / "runs.csv").exists()


def test_unknown_study_or_run_exits_2(seeded, tmp_path, capsys):
    assert cli.main(["report", "no-such-study", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no study or run is named 'no-such-study'" in err and "Fix:" in err
    assert cli.main(["report", seeded.failed, "--out", str(tmp_path / "y")]) == 2  # nothing finished
    assert "no finished run" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_the_compare_button_downloads_the_report(seeded):
    at = open_page("compare")
    assert not at.exception
    assert "⬇ Download report" in [e.proto.label for e in at.get("download_button")]
    settings = load_settings()
    columns = {seeded.zero: "0.5B zero-shot", seeded.st_gen: "0.5B ST-QLoRA", seeded.mt: "0.5B MT-QLoRA"}
    selection = build.Selection("Compare", columns, build.baseline_label(columns, "zero-shot") or "")
    assert selection.baseline == "0.5B zero-shot"
    content = button._zip(selection, settings)  # pylint: disable=protected-access  # what the button serves
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert {"codetune-report/report.html", "codetune-report/report.tex"} <= set(archive.namelist())
        assert "0.5B ST-QLoRA" in archive.read("codetune-report/report.html").decode()
