"""The reference runs in the front ends: the recomputed RQ tables (engine.api.reference_study on the
store's series), `codetune compare` on reference runs and runs of ours, and the Compare page's
"Reference study" section, paired tests and the Quality and Samples pages with reference runs.

The store is the small fixture of tests/store/paper_fixture.py plus a run of ours on the same six
translation test pairs and on gen-python (HumanEval-like ids: never paired with the paper's).
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats as sps

from engine import api
from engine.settings import load_settings
from store import ingest, queries, synthetic
from tests.store.paper_fixture import MT_CODEBLEU, ST_CODEBLEU, write_our_test_sets, write_paper_results
from tests.ui.helpers import open_page, texts_of
from ui import cli

MT = "paper-0.5b-mt-qlora-reference"
ST_TRANS = "paper-0.5b-st-qlora-reference-translation"
RQ_COLUMNS = ["rq", "question", "size", "task", "metric", "config_a", "config_b", "run_a", "run_b", "n_a", "n_b",
              "n", "ids_agree", "mean_a", "mean_b", "diff", "test", "statistic", "p_value", "effect",
              "effect_label", "p_holm", "p_bh", "note"]


@dataclass(frozen=True)
class Store:
    """The workspace: its folders and our run."""

    home: Path
    data: Path
    ours: str


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    base = tmp_path_factory.mktemp("reference-ui")
    home, data = base / "home", base / "data"
    write_paper_results(data)
    write_our_test_sets(data)
    settings = load_settings({"CODETUNE_HOME": str(home), "CODETUNE_DATA_DIR": str(data),
                              "CODETUNE_REFERENCE_RUNS": "1"})
    settings.ensure_dirs()
    trans = synthetic.TaskTexts("trans-java-cs", [f"test-{i}" for i in range(1, 7)], ["p"] * 6, ["r"] * 6)
    spec = synthetic.spec_for("Qwen/Qwen2.5-Coder-0.5B-Instruct", "qlora", ["trans-java-cs", "gen-python"])
    ours = synthetic.write_run(settings.runs_dir, spec, [trans, synthetic.make_texts("gen-python", 4)], seed=4).name
    import os  # pylint: disable=import-outside-toplevel

    before = os.environ.get("CODETUNE_REFERENCE_RUNS")
    os.environ["CODETUNE_REFERENCE_RUNS"] = "1"
    try:
        report = ingest.ingest_all(settings)
    finally:
        os.environ["CODETUNE_REFERENCE_RUNS"] = before or "0"
    assert len(report.reference_runs) == 7
    return Store(home, data, ours)


@pytest.fixture()
def env(store: Store, monkeypatch) -> Store:
    monkeypatch.setenv("CODETUNE_HOME", str(store.home))
    monkeypatch.setenv("CODETUNE_DATA_DIR", str(store.data))
    monkeypatch.setenv("CODETUNE_REFERENCE_RUNS", "1")
    monkeypatch.delenv("CODETUNE_RUNS_DIR", raising=False)
    monkeypatch.delenv("CODETUNE_DB", raising=False)
    return store


def _study(store: Store, **kw) -> pd.DataFrame:
    settings = load_settings({"CODETUNE_HOME": str(store.home)})
    series = queries.reference_series(settings)
    return pd.DataFrame(api.reference_study(series.to_dict("records"), **kw))


def test_rq_tables_have_one_row_per_question_size_task_metric_and_pair(store):
    frame = _study(store)
    assert list(frame.columns) == RQ_COLUMNS
    keys = sorted(zip(frame["rq"], frame["size"], frame["task"], frame["metric"], frame["config_b"], strict=True))
    assert keys == [("RQ1", "0.5B", "gen-python", "pass@1", "MT-QLoRA"),
                    ("RQ1", "0.5B", "trans-java-cs", "codebleu", "MT-QLoRA"),
                    ("RQ2", "0.5B", "gen-python", "pass@1", "MT-FFT"),
                    ("RQ2", "0.5B", "trans-java-cs", "codebleu", "MT-FFT"),
                    ("RQ3", "3B", "trans-java-cs", "codebleu", "MT-QLoRA (gen+trans)")]
    rq1 = frame[(frame["rq"] == "RQ1") & (frame["metric"] == "codebleu")].iloc[0]
    ref = sps.wilcoxon(ST_CODEBLEU, MT_CODEBLEU, method="approx", correction=False, zero_method="wilcox")
    assert rq1["test"] == "Wilcoxon signed-rank" and rq1["p_value"] == pytest.approx(ref.pvalue)
    assert rq1["n"] == 6 and rq1["diff"] == pytest.approx(sum(MT_CODEBLEU) / 6 - sum(ST_CODEBLEU) / 6)
    # each question and metric is its own family here: one test, nothing to adjust
    assert rq1["p_holm"] == pytest.approx(rq1["p_value"]) and rq1["p_bh"] == pytest.approx(rq1["p_value"])


def test_rq_pass_at_1_is_truncated_to_the_shorter_file_as_the_package_did(store):
    row = _study(store).query("rq == 'RQ1' and metric == 'pass@1'").iloc[0]
    assert (row["n_a"], row["n_b"], row["n"], row["ids_agree"]) == (5, 4, 4, 2)  # g3 missing under MT
    assert row["test"] == "McNemar (chi2)" and "truncated to the shorter file" in row["note"]
    assert "2 of 4 row pairs carry different sample ids" in row["note"]
    by_id = _study(store, pairing="ids").query("rq == 'RQ1' and metric == 'pass@1'").iloc[0]
    assert (by_id["n"], by_id["ids_agree"]) == (4, 4) and "paired by sample id" in by_id["note"]
    # one family per question: Holm over RQ1's two tests
    rq1 = _study(store, family="each question").query("rq == 'RQ1'")
    ps = rq1["p_value"].tolist()
    assert sorted(rq1["p_holm"]) == pytest.approx(sorted(min(1.0, max(2 * min(ps), p)) for p in
                                                         [min(ps), max(ps)]))


def _compare(capsys, *argv: str) -> dict:
    assert cli.main(["compare", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_compare_pairs_reference_runs_and_ours(env, capsys):
    out = _compare(capsys, "paper · 0.5B ST-QLoRA", "paper · 0.5B MT-QLoRA", "--task", "trans-java-cs",
                   "--metric", "codebleu")
    assert out["runs"]["trans-java-cs"]["a"]["run_id"] == ST_TRANS and out["runs"]["trans-java-cs"]["b"]["reference"]
    result = out["results"][0]
    ref = sps.wilcoxon(ST_CODEBLEU, MT_CODEBLEU, method="approx", correction=False, zero_method="wilcox")
    assert result["n"] == 6 and result["test"] == "Wilcoxon signed-rank"
    assert result["p_value"] == pytest.approx(ref.pvalue) and result["p_adjusted"] == pytest.approx(ref.pvalue)
    assert result["difference"] == pytest.approx(result["mean_b"] - result["mean_a"])
    assert -1 <= result["effect"] <= 1 and "Cliff" in result["effect_label"]
    # ours against the paper's: the 6 shared test pairs; generation is never paired
    mixed = _compare(capsys, env.ours, MT, "--task", "trans-java-cs", "--task", "gen-python", "--metric",
                     "codebleu", "--metric", "pass@1", "--correction", "bh")
    by = {(r["task"], r["metric"]): r for r in mixed["results"]}
    assert by[("trans-java-cs", "codebleu")]["n"] == 6 and by[("trans-java-cs", "codebleu")]["correction"] == "bh"
    assert by[("gen-python", "pass@1")]["n"] == 0 and "CoderEval" in by[("gen-python", "pass@1")]["note"]
    assert cli.main(["compare", "paper · 9B", MT, "--task", "trans-java-cs", "--metric", "codebleu"]) == 1


def test_compare_page_shows_the_reference_study(env):
    at = open_page("compare", timeout=120)
    assert not at.exception
    headers = [s.value for s in at.subheader]
    assert "Reference study" in headers
    text = texts_of(at)
    assert "7 reference runs" in text and "CoderEval" in text
    pairing = next(f.value for f in at.dataframe if "paired" in f.value.columns)
    assert set(pairing["task"]) == {"gen-python", "trans-java-cs", "sum-python", "sum-java"}
    assert pairing.set_index("task").loc["gen-python", "paired"] == "no"
    assert pairing.set_index("task").loc["sum-java", "evidence"] == "2 of 2 ids are our test samples"
    align = next(f.value for f in at.dataframe if "r at +0" in f.value.columns)
    assert (align["r at +0"] == "1").any()  # token counts: exactly proportional at offset 0
    rq_tables = [f.value for f in at.dataframe if "p (BH)" in f.value.columns and "A" in f.value.columns
                 and "config_a" not in f.value.columns and "question" not in f.value.columns]
    assert rq_tables and {len(t) for t in rq_tables} <= {1, 2}
    values = next(f.value for f in at.dataframe if "n" in f.value.columns and "ST-QLoRA" in f.value.columns)
    assert ("gen-python", "pass@1", "0.5B") in values.index


def test_compare_pairs_our_run_with_a_reference_run(env):
    at = open_page("compare", timeout=120)
    at.multiselect(key="compare.runs").set_value([env.ours, MT]).run()
    at.radio(key="compare.mode").set_value("per run").run()
    at.selectbox(key="compare.baseline_run").set_value(env.ours).run()
    assert not at.exception
    paired = next(f.value for f in at.dataframe if "p (Holm)" in f.value.columns and "B" in f.value.columns)
    row = paired[(paired["task"] == "trans-java-cs") & (paired["metric"] == "codebleu")]
    assert row["n"].iloc[0] == 6 and row["B"].iloc[0] == "paper · 0.5B MT-QLoRA"
    assert any("Not paired" in c.value and "gen-python" in c.value for c in at.caption)
    at.checkbox(key="compare.paper").check().run()
    assert not at.exception


def test_quality_and_samples_pages_take_reference_runs(env):
    at = open_page("quality", timeout=120)
    at.multiselect(key="quality.runs").set_value([MT, ST_TRANS]).run()
    assert not at.exception
    at = open_page("samples", timeout=120)
    at.multiselect(key="samples.runs").set_value([env.ours, MT]).run()
    at.selectbox(key="samples.task").set_value("trans-java-cs").run()
    assert not at.exception
    assert "test-1" in texts_of(at)
