"""Runs, Compare, Quality, Samples and Data against a seeded store (tests/ui/conftest.py), and
every page's empty state in a fresh workspace."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from engine import api
from tests.ui.helpers import open_page, texts_of


@pytest.mark.parametrize("page", ["launch", "runs", "compare", "quality", "samples", "data"])
def test_every_page_renders_without_errors(seeded, page):
    at = open_page(page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title and at.title[0].value  # a heading


@pytest.mark.parametrize("page", [None, "compare"])
def test_sidebar_shows_workspace_worker_and_sync(seeded, page):
    at = open_page(page)
    at.run()  # (a rerun keeps the shell: see ui.shell)
    text = "\n".join(m.value for m in at.sidebar.markdown) + "\n".join(c.value for c in at.sidebar.caption)
    assert str(seeded.home) in text and "Data directory" in text and "Worker" in text
    assert "synced" in text and "7 run(s)" in text
    assert [b.key for b in at.sidebar.button] == ["sidebar.start_worker", "sidebar.sync"]


@pytest.mark.parametrize(
    "page,expected",
    [
        ("runs", "No runs yet"),
        ("compare", "No finished runs"),
        ("quality", "No finished runs"),
        ("samples", "No finished runs"),
    ],
)
def test_empty_workspace_says_what_to_do(workspace, page, expected):
    at = open_page(page)
    assert not at.exception
    assert any(expected in i.value and "Launch" in i.value for i in at.info), [i.value for i in at.info]


def test_runs_page_lists_runs_with_states_and_details(seeded):
    at = open_page("runs")
    queue = at.dataframe[0].value
    assert set(queue["run_id"]) >= {seeded.mt, seeded.zero, seeded.failed}
    assert queue["state"].str.contains("done").sum() == 6 and queue["state"].str.contains("failed").sum() == 1
    assert float(queue.loc[queue["run_id"] == seeded.mt, "progress"].iloc[0]) == pytest.approx(1.0)
    assert {m.label: m.value for m in at.metric}["✅ done"] == "6"
    # the MT run's details: its metrics
    at.selectbox(key="runs.selected").set_value(seeded.mt).run()
    assert not at.exception
    text = texts_of(at)
    assert "0.6667" in text  # gen-python pass@1 of the MT run
    assert "MT-QLoRA" in text
    # a failed run shows its phase and message
    at.selectbox(key="runs.selected").set_value(seeded.failed).run()
    assert any("Failed in phase train" in e.value and "boom" in e.value for e in at.error)
    # the study grid
    assert at.selectbox(key="runs.study").value == seeded.study_id
    members = next(f.value for f in at.dataframe if "config" in f.value.columns)
    assert set(members["config"]) == {"zero-shot", "ST-QLoRA", "MT-QLoRA", "MT-FFT"}
    assert members.loc[members["run_id"] == seeded.failed, "state"].iloc[0].endswith("failed")


def test_runs_cancel_and_delete_ask_first(workspace, monkeypatch):
    from engine.settings import load_settings
    from store import synthetic

    monkeypatch.setattr(api, "ensure_worker", lambda settings=None: {"started": False, "pid": 1})
    settings = load_settings()
    spec = synthetic.spec_for("Qwen/Qwen2.5-Coder-0.5B-Instruct", "lora", ["gen-python"])
    from engine.runs import queue

    queued = queue.submit_run(spec, settings, check=False).run_id
    done = synthetic.write_run(
        settings.runs_dir,
        synthetic.spec_for("Qwen/Qwen2.5-Coder-0.5B-Instruct", "none", ["gen-python"]),
        [synthetic.make_texts("gen-python", 3)],
    ).name
    at = open_page("runs")
    at.selectbox(key="runs.selected").set_value(queued).run()
    at.button(key=f"cancel-{queued}").click().run()
    assert any("Really cancel" in w.value for w in at.warning)
    assert json.loads((settings.runs_dir / queued / "status.json").read_text())["state"] == "queued"
    at.button(key=f"confirm-cancel-{queued}").click().run()
    assert not at.exception
    assert json.loads((settings.runs_dir / queued / "status.json").read_text())["state"] == "cancelled"
    # resume queues it again
    at.selectbox(key="runs.selected").set_value(queued).run()
    at.button(key=f"resume-{queued}").click().run()
    assert json.loads((settings.runs_dir / queued / "status.json").read_text())["state"] == "queued"
    # delete asks, "no" keeps it, "yes" removes it
    at.selectbox(key="runs.selected").set_value(done).run()
    at.button(key=f"delete-{done}").click().run()
    at.button(key=f"confirm-no-{done}").click().run()
    assert (settings.runs_dir / done).is_dir()
    at.button(key=f"delete-{done}").click().run()
    at.button(key=f"confirm-delete-{done}").click().run()
    assert not (settings.runs_dir / done).exists()
    assert not at.exception


def test_compare_shows_the_study_side_by_side_with_tests(seeded):
    at = open_page("compare")
    assert at.radio(key="compare.source").value == "a study"
    per_task = [f.value for f in at.dataframe if ("gen-python", "pass@1") in f.value.index]  # after the verdicts
    values = per_task[0]
    assert "0.5B MT-QLoRA" in values.columns and "0.5B ST-QLoRA" in values.columns
    assert "0.5B zero-shot" in values.columns and "1.5B MT-QLoRA" in values.columns
    assert values.loc[("gen-python", "pass@1"), "0.5B MT-QLoRA"] == "0.667 (4/6)"  # k of n samples
    assert at.selectbox(key="compare.baseline_config").value == "zero-shot"
    deltas = per_task[1]
    assert deltas.loc[("gen-python", "pass@1"), "0.5B MT-QLoRA"] == "+0.5000"
    paired = next(f.value for f in at.dataframe if "p (Holm)" in f.value.columns)
    row = paired[(paired["task"] == "gen-python") & (paired["metric"] == "pass@1") & (paired["B"] == "0.5B MT-QLoRA")]
    assert row["test"].iloc[0].startswith("McNemar") and row["p (Holm)"].iloc[0] != "–"
    assert "only B passes 3" in row["effect_label"].iloc[0]  # samples 1, 2, 3 flip
    assert len(at.get("plotly_chart")) >= 3
    # the scaling chart's metric says what it measures, in the glossary's words
    assert at.selectbox(key="compare.scaling_metric").value == "pass@1"
    assert any("share of problems solved with 1 sample" in c.value and "higher is better" in c.value
               for c in at.caption)


def test_compare_per_run_with_paper_overlay(seeded):
    at = open_page("compare")
    at.radio(key="compare.mode").set_value("per run").run()
    at.selectbox(key="compare.baseline_run").set_value(seeded.zero).run()
    assert not at.exception
    values = next(f.value for f in at.dataframe if ("gen-python", "pass@1") in f.value.index)
    assert any(c.startswith("0.5B MT-QLoRA") for c in values.columns)
    assert any(c.startswith("0.5B ST-QLoRA gen-python") for c in values.columns)
    at.checkbox(key="compare.paper").check().run()
    assert any(c.value.startswith("Paper:") for c in at.caption)
    scaling = next(f.value for f in at.dataframe if "paper" in f.value.columns)
    assert scaling["paper"].notna().any()


def test_compare_any_runs(seeded):
    at = open_page("compare")
    at.radio(key="compare.source").set_value("any runs").run()
    at.multiselect(key="compare.runs").set_value([seeded.zero, seeded.mt]).run()
    assert not at.exception
    assert "0.5B MT-QLoRA" in next(f.value for f in at.dataframe if ("gen-python", "pass@1") in f.value.index).columns


def test_quality_page_breaks_findings_down(seeded):
    at = open_page("quality")
    at.multiselect(key="quality.runs").set_value([seeded.zero, seeded.mt]).run()
    assert not at.exception
    headers = [s.value for s in at.subheader]
    for expected in (
        "Findings by tool and category",
        "Most frequent rules",
        "Distributions of per-sample measures",
        "Quality vs correctness",
        "Analyser failures",
    ):
        assert expected in headers
    findings = at.dataframe[0].value
    assert "pylint" in findings.index.get_level_values("tool")
    assert len(at.get("plotly_chart")) >= 4
    assert any("Every analyser ran" in s.value for s in at.success)
    at.radio(key="quality.kind").set_value("violin").run()
    at.selectbox(key="quality.task").set_value("gen-python").run()
    assert not at.exception


def test_samples_page_shows_the_seeded_prediction(seeded, seeded_home):
    at = open_page("samples")
    at.multiselect(key="samples.runs").set_value([seeded.mt, seeded.zero]).run()
    at.selectbox(key="samples.task").set_value("gen-python").run()
    at.selectbox(key="samples.filter").set_value("a_pass_b_fail").run()
    assert not at.exception
    assert at.selectbox(key="samples.a").value == seeded.mt
    listed = at.dataframe[0].value
    assert list(listed["sample"]) == ["gen-python/00001", "gen-python/00002", "gen-python/00003"]
    assert any("3 sample(s) match" in c.value for c in at.caption)
    at.selectbox(key="samples.open").set_value("gen-python/00001").run()
    gens = pq.read_table(seeded_home.home / "runs" / seeded.mt / "generations.parquet").to_pandas()
    prediction = gens.loc[gens["sample_id"] == "gen-python/00001", "prediction"].iloc[0]
    reference = gens.loc[gens["sample_id"] == "gen-python/00001", "reference"].iloc[0]
    codes = [c.value for c in at.code]
    assert prediction in codes and reference in codes
    assert any(c.language == "python" for c in at.code if c.value == prediction)
    text = texts_of(at)
    assert "✅ passed" in text and "❌ failed" in text
    assert "AssertionError" in text or "assertion failed" in text  # the failing run's reason


def test_samples_search_and_paging(seeded):
    at = open_page("samples")
    at.multiselect(key="samples.runs").set_value([seeded.mt]).run()
    at.selectbox(key="samples.task").set_value("gen-python").run()
    at.selectbox(key="samples.page_size").set_value(25).run()
    at.text_input(key="samples.search").set_value("00004").run()
    assert list(at.dataframe[0].value["sample"]) == ["gen-python/00004"]
    assert not at.exception


def test_data_page_counts_previews_and_mixes(seeded):
    at = open_page("data")
    assert not at.exception
    counts = at.dataframe[0].value
    row = counts[counts["task"] == "gen-python"].iloc[0]
    assert int(row["train"]) == 374 and int(row["test"]) == 164
    sources = next(f.value for f in at.dataframe if "paper_rows" in f.value.columns)
    sum_python = sources[sources["task"] == "sum-python"].iloc[0]
    assert int(sum_python["paper_rows"]) == 251_820 and sum_python["share"].endswith("%")
    assert at.code and "def " in "\n".join(c.value for c in at.code)  # the preview of gen-python test
    at.selectbox(key="data.task").set_value("sum-java").run()
    at.selectbox(key="data.split").set_value("train").run()
    assert not at.exception
    at.button(key="data.mixture_go").click().run()
    assert not at.exception
    assert "training examples" in [m.label for m in at.metric]
