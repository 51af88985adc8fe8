"""Issue 8's "done when": a metric and an analyser added in a module of the user's own (named in
CODETUNE_PLUGINS, nothing in engine/, store/ or ui/ edited) reach the dashboard: the metric gets
Compare's paired tests because its metadata says it has per-sample values, and the analyser's
findings appear on the Quality page.

Two real runs produce the data: the prepare, score and analyse phases over hand-written
generations (as tests/scoring/test_phase.py does), with the plugin's metrics and analyser named in
the spec's eval section; the run directories are ingested into a real DuckDB store and the pages are
driven with streamlit.testing's AppTest.
"""

from __future__ import annotations

import textwrap
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from engine.phases import analyse, prepare, score
from engine.phases.context import PhaseContext
from engine.registry import PLUGINS_ENV
from engine.runs.rundir import GENERATIONS_SCHEMA, RunDir, write_json_atomic, write_table_atomic
from engine.settings import Settings, load_settings
from engine.spec import parse_run_spec
from engine.vocabulary import DONE, PHASES, RUNNING, RunStatus
from store import ingest
from tests.ui.helpers import open_page

TASK = "trans-java-cs"  # code output (C#), no execution: the runs need no sandbox
PAIRED_METRIC = "plugin_overlap"  # per-sample: must get a paired test
UNPAIRED_METRIC = "plugin_whole_only"  # per_sample=False: shown, but never paired
ANALYSER = "plugin_lines"

PLUGIN = f'''
"""A user's own metrics and analyser, registered through CODETUNE_PLUGINS."""

from engine.scoring.metrics import CODE, TEXT, Metric
from engine.scoring.quality import Analyser
from engine.scoring.quality.base import ok
from engine.scoring.quality.model import Finding


def overlap(predictions, references):
    """Share of the reference's tokens that the prediction contains."""
    out = []
    for prediction, reference in zip(predictions, references):
        wanted = reference.split()
        have = set(prediction.split())
        out.append(sum(token in have for token in wanted) / len(wanted) if wanted else 0.0)
    return out


METRICS = (
    Metric(name="{PAIRED_METRIC}", applies_to=frozenset({{CODE, TEXT}}),
           description="share of reference tokens in the prediction", score_fn=overlap),
    Metric(name="{UNPAIRED_METRIC}", applies_to=frozenset({{CODE, TEXT}}),
           description="a corpus-only number", score_fn=overlap, per_sample=False),
)


class LineCounter(Analyser):
    """One finding per sample: how many lines it has."""

    name = "{ANALYSER}"
    languages = ("python", "java", "csharp")
    description = "counts lines"
    categories = {{"length": "how long the code is"}}

    def analyse_batch(self, samples, workdir, config):
        del workdir, config
        results = []
        for sample in samples:
            lines = len(sample.code.splitlines())
            finding = Finding(tool=self.name, rule_id="PL001", category="length", severity="info", line=1,
                              message=f"{{lines}} lines")
            results.append(ok(sample, self.name, findings=[finding], measures={{"lines": float(lines)}}))
        return results


ANALYSERS = (LineCounter,)
'''


def _run(settings: Settings, data_dir: Path, seed: int, truncate: bool) -> str:
    """One finished run of TASK scored and analysed by the real phases; returns its id."""
    spec = parse_run_spec({
        "model": "org/plugin-model-0.5B", "method": "none", "data_dir": str(data_dir), "tasks": [TASK],
        "train": {"seed": seed},
        "eval": {"limit": 4, "metrics": [PAIRED_METRIC, UNPAIRED_METRIC], "analysers": [ANALYSER]},
    })
    run = RunDir(settings.runs_dir / spec.run_id())
    run.path.mkdir(parents=True)
    run.spec_path.write_text(spec.to_json(), encoding="utf-8")
    write_json_atomic(run.status_path, RunStatus(state=RUNNING, submitted_at=time.time() + seed).to_dict())
    ctx = PhaseContext(run=run, spec=spec, settings=settings)
    prepare.run(ctx)
    rows = []
    for i, example in enumerate(ctx.eval_examples()):
        words = example.target.split()
        # the second run drops a different share of each reference, so every pair differs
        prediction = " ".join(words[: max(1, len(words) * (i + 1) // 6)]) if truncate else example.target
        rows.append({"run_id": run.run_id, "task": example.task, "sample_id": example.id, "sample_index": 0,
                     "prompt": example.input, "completion": prediction, "prediction": prediction,
                     "reference": example.target, "prompt_tokens": 10, "completion_tokens": 5, "latency_s": 0.5,
                     "batch_size": 1, "finish_reason": "eos"})
    write_table_atomic(run.artifact("generations"), pa.Table.from_pylist(rows, schema=GENERATIONS_SCHEMA))
    score.run(ctx)
    analyse.run(ctx)
    run.update_status(state=DONE, phase=PHASES[-1], phases_done=list(PHASES), finished_at=time.time())
    return run.run_id


@pytest.fixture()
def plugin_store(tmp_path, monkeypatch, data_dir) -> tuple[str, str]:
    """Two finished runs with the plugin's metrics and analyser, ingested; the app pointed at them."""
    module = f"codetune_test_plugin_{uuid.uuid4().hex[:12]}"
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / f"{module}.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    monkeypatch.syspath_prepend(str(plugins))
    monkeypatch.setenv(PLUGINS_ENV, module)
    home = tmp_path / "home"
    for name, value in (("CODETUNE_HOME", str(home)), ("CODETUNE_DATA_DIR", str(data_dir))):
        monkeypatch.setenv(name, value)
    for name in ("CODETUNE_RUNS_DIR", "CODETUNE_DB"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings({"CODETUNE_HOME": str(home)})
    settings.ensure_dirs()
    exact = _run(settings, data_dir, seed=1, truncate=False)
    partial = _run(settings, data_dir, seed=2, truncate=True)
    report = ingest.ingest_all(settings)
    assert not report.warnings, report.warnings
    return exact, partial


def test_a_plugin_metric_gets_paired_tests_and_a_plugin_analyser_shows_on_quality(plugin_store):
    exact, partial = plugin_store
    at = open_page("compare")
    assert not at.exception
    at.multiselect(key="compare.runs").set_value([exact, partial]).run()
    at.radio(key="compare.mode").set_value("per run").run()
    at.selectbox(key="compare.baseline_run").set_value(exact).run()
    assert not at.exception
    values = [f.value for f in at.dataframe if f.value.index.nlevels == 2]  # the values table, after the verdicts
    shown = set(values[0].index.get_level_values("metric")) if values else set()
    assert {PAIRED_METRIC, UNPAIRED_METRIC} <= shown, f"the plugin metrics are not compared: {shown}"
    at.radio(key="compare.test_scope").set_value("every per-sample metric shown").run()
    assert not at.exception
    paired = next((f.value for f in at.dataframe if "p (Holm)" in f.value.columns), None)
    assert paired is not None, "no paired tests: " + " / ".join(str(i.value) for i in at.info)
    tested = set(paired["metric"])
    assert PAIRED_METRIC in tested, f"the plugin metric has no paired test: {tested}"
    assert UNPAIRED_METRIC not in tested, "a metric without per-sample values must not be paired"
    row = paired[paired["metric"] == PAIRED_METRIC].iloc[0]
    assert row["task"] == TASK and int(row["n"]) == 4 and row["test"].startswith("Wilcoxon")

    at = open_page("quality")
    at.multiselect(key="quality.runs").set_value([exact, partial]).run()
    assert not at.exception
    findings = at.dataframe[0].value
    assert ANALYSER in findings.index.get_level_values("tool")
    assert "length" in findings.index.get_level_values("category")
    status = next(f.value for f in at.dataframe if "status" in f.value.columns and "tool" in f.value.columns)
    assert set(status.loc[status["tool"] == ANALYSER, "status"]) == {"ok"}
    measures = at.selectbox(key="quality.measure").options
    assert any(ANALYSER in str(option) and "lines" in str(option) for option in measures), measures
