"""Compare's "Task transfer" view (issue 12, item 4): on a seeded store of a transfer study (ST per task,
MT on every task, MT on two pairs), a heatmap of each task's change against its single-task run with a
95% interval and n; absent when the selection has one multi-task subset only."""

from __future__ import annotations

import json

import pytest

from engine.settings import load_settings
from store import ingest, synthetic
from tests.ui.helpers import open_page
from ui import transfer

MODEL = "Qwen/Qwen2.5-Coder-0.5B-Instruct"
TASKS = ("gen-python", "trans-java-cs", "sum-java")
N_GEN = 6


@pytest.fixture(scope="module")
def transfer_home(tmp_path_factory):
    """ST-QLoRA per task, MT-QLoRA on all three and on two pairs. gen-python pass@1: ST 2/6, MT-all 6/6."""
    home = tmp_path_factory.mktemp("transfer") / "home"
    settings = load_settings({"CODETUNE_HOME": str(home)})
    settings.ensure_dirs()
    texts = {"gen-python": synthetic.make_texts("gen-python", N_GEN), "trans-java-cs":
             synthetic.make_texts("trans-java-cs", 5), "sum-java": synthetic.make_texts("sum-java", 4)}
    ids = texts["gen-python"].sample_ids

    def write(tasks, seed, passed):
        statuses = {("gen-python", sid): ("passed" if i < passed else "failed") for i, sid in enumerate(ids)}
        spec = synthetic.spec_for(MODEL, "qlora", list(tasks))
        return synthetic.write_run(settings.runs_dir, spec, [texts[t] for t in tasks], seed=seed,
                                   statuses=statuses).name

    runs = {"st-gen": write(("gen-python",), 1, 2), "st-trans": write(("trans-java-cs",), 2, 0),
            "st-sum": write(("sum-java",), 3, 0), "mt-all": write(TASKS, 4, N_GEN),
            "mt-gen-trans": write(("gen-python", "trans-java-cs"), 5, 3),
            "mt-gen-sum": write(("gen-python", "sum-java"), 6, 2)}
    ingest.ingest_all(settings)
    return home, runs


@pytest.fixture()
def in_transfer_home(transfer_home, monkeypatch, data_dir):
    home, runs = transfer_home
    monkeypatch.setenv("CODETUNE_HOME", str(home))
    monkeypatch.delenv("CODETUNE_RUNS_DIR", raising=False)
    monkeypatch.delenv("CODETUNE_DB", raising=False)
    monkeypatch.setenv("CODETUNE_DATA_DIR", str(data_dir))
    return runs


FAMILIES = {"gen-python": "generation", "gen-java": "generation", "trans-java-cs": "translation",
            "sum-java": "summarization"}


def _run(run_id, tasks, method="qlora", multi=None):
    multi = len({FAMILIES[t] for t in tasks}) > 1 if multi is None else multi
    return {"run_id": run_id, "model": MODEL, "model_short": "0.5B", "method": method, "tasks": list(tasks),
            "is_multitask": multi, "label": ("MT-" if multi else "ST-") + "QLoRA"}


def test_layout_pairs_each_task_with_its_smallest_single_task_run():
    runs = [_run("zero", TASKS, method="none"), _run("st-gen", ["gen-python"]),
            _run("st-gen-family", ["gen-python", "gen-java"]), _run("st-sum", ["sum-java"]),
            _run("mt-all", TASKS), _run("mt-pair", ["gen-python", "sum-java"]),
            _run("mt-lora", TASKS, method="lora")]
    rows = {r.run_id: r for r in transfer.layout(runs, FAMILIES)}
    # the zero-shot run and the references (st-gen-family: gen-java's) are no rows; a method without
    # an ST run has no cells
    assert set(rows) == {"mt-all", "mt-pair"}
    assert rows["mt-all"].references == {"gen-python": "st-gen", "sum-java": "st-sum"}
    assert rows["mt-all"].name == "MT-QLoRA · without gen-java"
    assert rows["mt-pair"].name == "MT-QLoRA · gen-python+sum-java"  # shorter than what it leaves out
    assert transfer.applies(list(rows.values()))
    assert not transfer.applies([rows["mt-all"]])


def test_subset_names_say_what_is_left_out_or_held():
    every = ["gen-python", "gen-java", "trans-java-cs", "sum-java"]
    assert transfer.subset_name(every, every, FAMILIES) == "all 4 tasks"
    assert transfer.subset_name(["gen-python", "gen-java", "trans-java-cs"], every, FAMILIES) == \
        "without summarization"
    assert transfer.subset_name(["gen-python", "sum-java"], every, FAMILIES) == "gen-python+sum-java"


@pytest.mark.usefixtures("in_transfer_home")
def test_compare_shows_the_transfer_heatmap_with_intervals_and_n():
    at = open_page("compare")
    assert not at.exception, at.exception
    assert "Task transfer" in [e.label for e in at.expander]
    table = next(f.value for f in at.dataframe if {"subset", "low", "high", "n"} <= set(f.value.columns))
    gen = table[table["task"] == "gen-python"].set_index("subset")
    assert len(table) == 3 + 2 + 2  # three subsets x the tasks each evaluates
    full = gen.loc["MT-QLoRA · all 3 tasks"]
    assert full["metric"] == "pass@1" and full["n"] == N_GEN
    assert full["delta"] == pytest.approx(4 / 6)  # 6/6 against the ST run's 2/6
    assert full["low"] <= full["delta"] <= full["high"] and full["low"] > 0
    assert gen.loc["MT-QLoRA · without summarization", "delta"] == pytest.approx(1 / 6)  # 3/6 against 2/6
    pair = gen.loc["MT-QLoRA · without translation"]  # the same two samples pass: no change, no spread
    assert pair["delta"] == pytest.approx(0) and pair["low"] == pair["high"] == pytest.approx(0)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    heat = [c for c in charts if any(d.get("type") == "heatmap" and "Δ vs ST" in json.dumps(d, ensure_ascii=False)
                                     for d in c["data"])]
    assert heat, "no transfer heatmap"
    text = json.dumps(heat[0]["data"][0]["text"])
    assert f"n = {N_GEN}" in text and "[" in text


def test_no_transfer_view_with_a_single_multi_task_subset(in_transfer_home):
    runs = in_transfer_home
    at = open_page("compare")
    at.multiselect(key="compare.runs").set_value([runs["st-gen"], runs["st-sum"], runs["mt-all"]]).run()
    assert not at.exception
    assert "Task transfer" not in [e.label for e in at.expander]
