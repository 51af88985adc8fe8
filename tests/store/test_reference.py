"""Reference runs (store.reference): the reference study's per-sample CSVs ingested as read-only runs.

On a small fixture in the package's layouts (tests/store/paper_fixture.py): runs and values keyed to
our sample ids, a malformed and a missing file reported by name and skipped, idempotent ingest,
reindex, pruning that leaves them alone, pairing with a run of ours, and the queries. One test on
the real files (skipped when they are absent) checks the whole folder and the translation order.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from engine.settings import Settings, load_settings
from store import db, ingest, queries, synthetic
from store.reference_files import parse_name
from tests.store.paper_fixture import (
    FFT_PASS,
    LIZARD_TOKENS,
    MALFORMED,
    MT_CODEBLEU,
    MT_PASS,
    ST_CODEBLEU,
    ST_PASS,
    write_paper_results,
)

ST_TRANS = "paper-0.5b-st-qlora-reference-translation"
ST_GEN = "paper-0.5b-st-qlora-reference-generation"
MT = "paper-0.5b-mt-qlora-reference"
FFT = "paper-0.5b-mt-fft-reference"
ABLATION = "paper-3b-mt-qlora-gen-trans-reference"


@pytest.fixture()
def ref_settings(workspace: Path, tmp_path: Path, monkeypatch) -> Settings:
    """A workspace whose data directory holds the fixture's paper_results/, reference runs on."""
    data = tmp_path / "data"
    write_paper_results(data)
    monkeypatch.setenv("CODETUNE_DATA_DIR", str(data))
    monkeypatch.setenv("CODETUNE_REFERENCE_RUNS", "1")
    settings = load_settings()
    settings.ensure_dirs()
    return settings


def rows(settings: Settings, sql: str, params: list | None = None) -> list[tuple]:
    with db.connect(settings) as conn:
        return conn.execute(sql, params or []).fetchall()


def test_file_names_place_each_file_with_its_run():
    cases = {
        "r-pass1_cg_qwen0_5_st_qlora.csv": ("0.5B", "st_qlora"),
        "ct_qwen1_5_mt-fft.csv": ("1.5B", "mt_fft"),
        "r-pylint_cg_0.5b-st-qlora.csv": ("0.5B", "st_qlora"),
        "r-lizard_ct_3b-mt-qlora.csv": ("3B", "mt_qlora"),
        "ct_qwen3_cs_ct_mt_qlora.csv": ("3B", "cs_ct_mt_qlora"),
        "r-sonarcloud_cg_qwen3_cg_cs_mt_qlora.csv": ("3B", "cg_cs_mt_qlora"),
        "qwen1_5_mt_fft.csv": ("1.5B", "mt_fft"),
    }
    for name, (size, config) in cases.items():
        run = parse_name(name)
        assert run is not None and (run.size, run.config_key) == (size, config), name
    assert parse_name("notes.csv") is None
    st = parse_name("ct_qwen0_5_st_qlora.csv")
    assert st is not None and st.for_task("trans-java-cs").run_id == ST_TRANS
    assert st.for_task("trans-java-cs").name == "paper · 0.5B ST-QLoRA (translation)"
    mt = parse_name("ct_qwen3_cg_ct_mt_qlora.csv")
    assert mt is not None and mt.for_task("gen-python").run_id == ABLATION  # multi-task: one model
    assert mt.for_task("gen-python").name == "paper · 3B MT-QLoRA (gen+trans)"


def test_ingest_makes_read_only_runs_keyed_to_our_sample_ids(ref_settings):
    report = ingest.ingest_all(ref_settings)
    assert sorted(report.reference_runs) == sorted(
        [ST_TRANS, ST_GEN, "paper-0.5b-st-qlora-reference-summarization", MT, FFT, ABLATION,
         "paper-3b-mt-qlora-reference"])
    assert "reference runs: 7 loaded" in str(report)
    runs = queries.runs_overview(ref_settings).set_index("run_id")
    assert runs["is_reference"].all() and (runs["state"] == "done").all()
    assert runs.loc[MT, "name"] == "paper · 0.5B MT-QLoRA" and runs.loc[MT, "label"] == "paper MT-QLoRA"
    assert runs.loc[MT, "model_size"] == "0.5B" and runs.loc[MT, "method"] == "qlora"
    assert runs.loc[FFT, "method"] == "fft" and not runs.loc[ST_TRANS, "is_multitask"]
    assert list(runs.loc[MT, "tasks"]) == ["gen-python", "trans-java-cs"]  # its good files only
    # translation rows are our test pairs, by position
    scores = queries.sample_scores(ref_settings, [ST_TRANS], "trans-java-cs", "codebleu")
    assert dict(zip(scores["sample_id"], scores["value"], strict=True)) == {
        f"test-{i + 1}": v for i, v in enumerate(ST_CODEBLEU)}
    # pass@1: outcomes per sample; the run-level value divides by the paper's n (190)
    outcomes = rows(ref_settings, "SELECT sample_id, status FROM outcomes WHERE run_id = ?", [MT])
    assert dict(outcomes) == {k: ("passed" if v else "failed") for k, v in MT_PASS.items()}
    metrics = queries.run_metrics(ref_settings, [ST_GEN, MT, FFT], tasks=["gen-python"], metrics=["pass@1", "n"])
    values = {(r.run_id, r.metric): r.value for r in metrics.itertuples()}
    assert values[(ST_GEN, "pass@1")] == pytest.approx(3 / 190) and values[(MT, "n")] == 4
    # quality values under the paper's tool names, a status row per sample and tool
    quality = rows(ref_settings, "SELECT tool, measure, value FROM quality WHERE run_id = ? AND sample_id = 'g1'",
                   [ST_GEN])
    assert ("paper-pylint", "count_W", 2.0) in quality and ("paper-pylint", None, None) in quality
    lizard = queries.quality_measures(ref_settings, [ST_TRANS], "token_count", tool="paper-lizard")
    assert dict(zip(lizard["sample_id"], lizard["value"], strict=True)) == {
        f"test-{i + 1}": float(t) for i, t in enumerate(LIZARD_TOKENS)}
    # summarization: SIDE where the file has it (Java), absent where it does not (Python)
    sums = queries.metric_names(ref_settings, ["paper-0.5b-st-qlora-reference-summarization"])
    assert {"sum-java", "sum-python"} == set(sums["task"])
    assert "side" in set(sums.loc[sums["task"] == "sum-java", "metric"])
    assert "side" not in set(sums.loc[sums["task"] == "sum-python", "metric"])
    # the Samples page lists them: a generation row per sample, no text, no generation summary
    assert rows(ref_settings, "SELECT count(*), count(prediction) FROM generations WHERE run_id = ?",
                [ST_TRANS]) == [(6, 0)]
    assert rows(ref_settings, "SELECT count(*) FROM gen_summary") == [(0,)]
    present = queries.tasks_present(ref_settings, [ST_TRANS, MT]).set_index("task")
    assert present.loc["trans-java-cs", "n_samples"] == 6


def test_malformed_and_missing_files_are_reported_by_name_and_skipped(ref_settings):
    report = ingest.ingest_all(ref_settings)
    bad = [w for w in report.warnings if MALFORMED in w]
    assert len(bad) == 1 and "line 3: codestyle 'abc' is not a number" in bad[0] and "skipped" in bad[0]
    assert any("pass1/py/ (no CSV for 1.5B ST-QLoRA): missing" in w for w in report.warnings)
    assert rows(ref_settings, "SELECT count(*) FROM reference_values WHERE file = ?", [MALFORMED]) == [(0,)]
    problems = queries.reference_files(ref_settings, problems_only=True)
    assert MALFORMED in set(problems["file"])
    # unchanged: nothing written, the problem reported again
    again = ingest.ingest_all(ref_settings)
    assert not again.changed and not again.rows and any(MALFORMED in w for w in again.warnings)
    # fixed: read on the next ingest
    path = ref_settings.data_dir / "paper_results" / MALFORMED
    path.write_text(path.read_text().replace("abc", "3"))
    fixed = ingest.ingest_all(ref_settings)
    assert fixed.changed and not any(MALFORMED in w for w in fixed.warnings)
    assert rows(ref_settings, "SELECT count(*) FROM quality WHERE run_id = ? AND tool = 'paper-pmd' "
                              "AND measure = 'count_codestyle'", [MT]) == [(2,)]


def test_ingest_is_idempotent_and_part_of_reindex(ref_settings):
    ingest.ingest_all(ref_settings)
    tables = ("runs", "reference_values", "scores", "outcomes", "quality", "metrics", "generations", "task_counts")

    def counts() -> dict[str, int]:
        return {t: rows(ref_settings, f"SELECT count(*) FROM {t}")[0][0] for t in tables}

    first = counts()
    second = ingest.ingest_all(ref_settings)
    assert not second.changed and counts() == first
    rebuilt = ingest.reindex(ref_settings)
    assert len(rebuilt.reference_runs) == 7 and counts() == first


def test_reference_runs_survive_pruning_and_leave_with_their_folder(ref_settings):
    run = synthetic.write_run(ref_settings.runs_dir, synthetic.spec_for("org/m-0.5B", "qlora", ["gen-python"]),
                              [synthetic.make_texts("gen-python", 3)], seed=1)
    ingest.ingest_all(ref_settings)
    overview = queries.runs_overview(ref_settings)
    assert list(overview["is_reference"]) == [True] * 7 + [False]  # listed first: "recent" = your runs
    shutil.rmtree(run)
    report = ingest.ingest_all(ref_settings)
    assert report.runs_pruned == [run.name]
    assert rows(ref_settings, "SELECT count(*) FROM runs WHERE is_reference") == [(7,)]
    # a changed file reloads them all; a removed folder removes them
    target = ref_settings.data_dir / "paper_results" / "pass1/py/r-pass1_cg_qwen0_5_mt_fft.csv"
    target.write_text("Task ID,pass@1\ng1,1\ng2,1\n")
    assert ingest.ingest_all(ref_settings).reference_runs
    assert rows(ref_settings, "SELECT count(*) FROM outcomes WHERE run_id = ?", [FFT]) == [(2,)]
    shutil.rmtree(ref_settings.data_dir / "paper_results")
    ingest.ingest_all(ref_settings)
    assert rows(ref_settings, "SELECT count(*) FROM runs") == [(0,)]
    assert rows(ref_settings, "SELECT count(*) FROM reference_values") == [(0,)]


def test_switched_off_they_leave_the_store(ref_settings, monkeypatch):
    ingest.ingest_all(ref_settings)
    monkeypatch.setenv("CODETUNE_REFERENCE_RUNS", "0")
    ingest.ingest_all(ref_settings)
    assert rows(ref_settings, "SELECT count(*) FROM runs") == [(0,)]


def test_a_run_of_ours_pairs_with_a_reference_run_by_sample(ref_settings):
    texts = synthetic.TaskTexts("trans-java-cs", [f"test-{i}" for i in range(1, 5)],
                                ["p"] * 4, ["r"] * 4)
    ours = synthetic.write_run(ref_settings.runs_dir, synthetic.spec_for("org/m-0.5B", "qlora", ["trans-java-cs"]),
                               [texts], seed=3).name
    ingest.ingest_all(ref_settings)
    paired = queries.paired_scores(ref_settings, ours, MT, "trans-java-cs", "codebleu")
    assert list(paired["sample_id"]) == ["test-1", "test-2", "test-3", "test-4"]
    assert paired["value_b"].tolist() == MT_CODEBLEU[:4]
    # two reference runs pair on pass@1 by task id, on the 4 tasks both have
    both = queries.paired_pass(ref_settings, ST_GEN, MT, "gen-python")
    assert len(both) == 4 and set(both["sample_id"]) == set(MT_PASS)


def test_series_and_overlay_queries(ref_settings):
    ingest.ingest_all(ref_settings)
    series = queries.reference_series(ref_settings, tasks=["gen-python"], metrics=["pass@1"])
    by_run = {r.run_id: r for r in series.itertuples()}
    assert by_run[MT].sample_ids == list(MT_PASS) and by_run[MT].values == list(map(float, MT_PASS.values()))
    assert by_run[FFT].config == "MT-FFT" and by_run[FFT].size == "0.5B" and by_run[FFT].pass_fail
    assert by_run[ST_GEN].n == len(ST_PASS) and sum(by_run[FFT].values) == sum(FFT_PASS.values())
    overlay = queries.reference_overlay(ref_settings, metrics=["pass@1"]).set_index("run_id")
    assert overlay.loc[MT, "value"] == pytest.approx(2 / 190) and overlay.loc[MT, "n"] == 4
    assert overlay.loc[MT, "mean_rows"] == pytest.approx(2 / 4) and "190" in overlay.loc[MT, "convention"]
    refs = queries.reference_runs(ref_settings)
    assert len(refs) == 7 and set(refs["config"]) >= {"ST-QLoRA", "MT-QLoRA", "MT-FFT", "MT-QLoRA (gen+trans)"}
    pmd = queries.reference_series(ref_settings, metrics=["paper-pmd:count_codestyle"])
    assert pmd.empty  # the only PMD file is the malformed one


REAL = Path(os.environ.get("CODETUNE_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data")


@pytest.mark.skipif(not (REAL / "paper_results").is_dir(), reason="the reference study's files are absent")
def test_the_real_files(workspace, monkeypatch, capsys):
    monkeypatch.setenv("CODETUNE_DATA_DIR", str(REAL))
    monkeypatch.setenv("CODETUNE_REFERENCE_RUNS", "1")
    settings = load_settings()
    settings.ensure_dirs()
    report = ingest.ingest_all(settings)
    assert report.reference_files == 179 and len(report.reference_runs) == 18
    assert [w for w in report.warnings if "paper_results" in w] == []
    overlay = queries.reference_overlay(settings, metrics=["pass@1", "codebleu"])
    overlay = overlay.set_index(["run_id", "task", "metric"])
    # the published headline numbers (shared/REFERENCE.md)
    assert overlay.loc[("paper-0.5b-st-qlora-reference-generation", "gen-python", "pass@1"), "value"] == \
        pytest.approx(0.1579, abs=5e-5)
    assert overlay.loc[("paper-0.5b-st-qlora-reference-generation", "gen-python", "pass@1"), "mean_rows"] == \
        pytest.approx(0.1587, abs=5e-5)
    assert overlay.loc[("paper-1.5b-mt-fft-reference", "trans-java-cs", "codebleu"), "value"] == \
        pytest.approx(0.8025, abs=5e-5)
    assert overlay.loc[("paper-3b-mt-qlora-reference", "gen-java", "pass@1"), "value"] == \
        pytest.approx(0.3207, abs=5e-5)
    with capsys.disabled():
        print(f"\nreal paper_results: {len(report.reference_runs)} runs from {report.reference_files} files, "
              f"{report.rows.get('reference_values', 0):,} values, first ingest {report.elapsed_s:.2f} s")


def test_the_ingest_recomputes_the_papers_tests_for_both_pairings(ref_settings):
    from engine import api  # pylint: disable=import-outside-toplevel

    ingest.ingest_all(ref_settings)
    by_rows = queries.reference_tests(ref_settings)
    assert sorted(zip(by_rows["rq"], by_rows["task"], by_rows["metric"], strict=True)) == [
        ("RQ1", "gen-python", "pass@1"), ("RQ1", "trans-java-cs", "codebleu"),
        ("RQ2", "gen-python", "pass@1"), ("RQ2", "trans-java-cs", "codebleu"),
        ("RQ3", "trans-java-cs", "codebleu")]
    rq1 = by_rows.set_index(["rq", "metric"]).loc[("RQ1", "pass@1")]
    assert (rq1["n_a"], rq1["n_b"], rq1["n"], rq1["ids_agree"]) == (5, 4, 4, 2)  # truncated, as the package
    by_ids = queries.reference_tests(ref_settings, pairing="ids").set_index(["rq", "metric"])
    assert (by_ids.loc[("RQ1", "pass@1"), "n"], by_ids.loc[("RQ1", "pass@1"), "ids_agree"]) == (4, 4)
    adjusted = api.reference_tests_adjusted(by_rows.to_dict("records"), "each question")
    rq1_ps = [r["p_value"] for r in adjusted if r["rq"] == "RQ1"]
    assert sorted(r["p_holm"] for r in adjusted if r["rq"] == "RQ1") == pytest.approx(
        sorted(min(1.0, max(2 * min(rq1_ps), p)) for p in (min(rq1_ps), max(rq1_ps))))
