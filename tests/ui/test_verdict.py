"""The verdict panel and the values with n and intervals (ui.verdict, ui.verdict_data, ui.intervals)
on the seeded store: MT-QLoRA passes 4 of 6 gen-python samples, zero-shot 1 of 6."""
# pylint: disable=missing-function-docstring,redefined-outer-name

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from engine.settings import load_settings
from store import queries
from tests.ui.helpers import open_page, texts_of
from ui import intervals, verdict_data

TASKS = ("gen-python", "sum-java", "trans-java-cs")


@pytest.fixture()
def query(seeded) -> Any:
    settings = load_settings({"CODETUNE_HOME": str(seeded.home)})
    return lambda name, **params: queries.run_query(settings, name, **params)


def _columns(seeded) -> dict[str, str]:
    return {seeded.zero: "0.5B zero-shot", seeded.st_gen: "0.5B ST-QLoRA", seeded.st_trans: "0.5B ST-QLoRA",
            seeded.st_sum: "0.5B ST-QLoRA", seeded.mt: "0.5B MT-QLoRA", seeded.mt_large: "1.5B MT-QLoRA"}


def test_verdict_table_per_task_and_column(seeded, query) -> None:
    frame = verdict_data.verdict_table(query, _columns(seeded), "zero-shot", resamples=500)
    # 1.5B MT-QLoRA has no 1.5B baseline: compared within its size only, so it is absent.
    assert set(frame["column"]) == {"0.5B ST-QLoRA", "0.5B MT-QLoRA"}
    assert set(frame["task"]) == set(TASKS)
    row = frame[(frame["task"] == "gen-python") & (frame["column"] == "0.5B MT-QLoRA")].iloc[0]
    assert row["metric"] == "pass@1" and row["n"] == 6
    assert row["value_a"] == pytest.approx(1 / 6) and row["value_b"] == pytest.approx(4 / 6)
    assert row["diff"] == pytest.approx(0.5) and row["low"] <= 0.5 <= row["high"]
    assert row["run_a"] == seeded.zero and row["run_b"] == seeded.mt
    assert row["small_n"] and "only n = 6 samples: too few to tell" in row["reading"]
    assert row["test"].startswith("McNemar")
    # Holm across all six rows: no adjusted p is below its raw p.
    assert (frame["p_adjusted"] >= frame["p_value"] - 1e-12).all()
    # ST-QLoRA's column takes, per task, its run of that task.
    st_rows = frame[frame["column"] == "0.5B ST-QLoRA"].set_index("task")["run_b"]
    assert st_rows.to_dict() == {"gen-python": seeded.st_gen, "sum-java": seeded.st_sum,
                                 "trans-java-cs": seeded.st_trans}
    assert any(c.startswith("Δ findings per sample (") for c in frame.columns)


def test_verdict_table_against_a_run_and_one_column(seeded, query) -> None:
    columns = {seeded.zero: "zero", seeded.mt: "mt"}
    frame = verdict_data.verdict_table(query, columns, seeded.zero, resamples=200)
    assert list(frame["column"].unique()) == ["mt"] and len(frame) == 3
    assert verdict_data.verdict_table(query, {seeded.mt: "mt"}, seeded.mt).empty


def test_value_table_reads_k_of_n_and_plus_minus(seeded, query) -> None:
    frame = verdict_data.value_table(query, _columns(seeded), tasks=["gen-python"])
    mt = frame[(frame["column"] == "0.5B MT-QLoRA") & (frame["metric"] == "pass@1")].iloc[0]
    assert mt["text"] == "0.667 (4/6)" and (mt["k"], mt["n"]) == (4, 6)
    assert mt["low"] < 4 / 6 < mt["high"]
    scored = frame[(frame["metric"] == "codebleu") & (frame["column"] == "0.5B zero-shot")].iloc[0]
    assert " ± " in scored["text"] and scored["text"].endswith("(n = 6)")
    assert 0.0 <= scored["low"] <= scored["value"] <= scored["high"] <= 1.0


def test_bars_carry_error_bars_and_lines_carry_bands() -> None:
    values = pd.DataFrame({"task": ["t", "t"], "metric": ["pass@1"] * 2, "column": ["A", "B"],
                           "value": [0.25, 0.5], "low": [0.05, 0.2], "high": [0.7, 0.8], "n": [4, 4],
                           "text": ["0.25 (1/4)", "0.5 (2/4)"]})
    fig = intervals.metric_bars(values, "pass@1")
    assert list(fig.data[0].error_y.array) == pytest.approx([0.45])
    assert list(fig.data[0].error_y.arrayminus) == pytest.approx([0.2])
    lines = pd.DataFrame({"task": ["t", "t"], "config": ["MT", "MT"], "params_b": [0.5, 1.5],
                          "size": ["0.5B", "1.5B"], "value": [0.3, 0.5], "low": [0.2, 0.4], "high": [0.4, 0.6]})
    fig = intervals.scaling_with_bands(lines, "pass@1")
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 1 and list(bands[0].y) == [0.4, 0.6, 0.4, 0.2]


@pytest.mark.usefixtures("seeded")
def test_compare_page_shows_the_verdict_panel() -> None:
    at = open_page("compare")
    assert not at.exception
    assert "Verdict" in [s.value for s in at.subheader]
    text = texts_of(at)
    for task in TASKS:
        assert f"**{task}**" in text
    panel = [f.value for f in at.dataframe if "Δ [95% CI]" in f.value.columns]
    assert len(panel) == len(TASKS)
    for frame in panel:
        assert (frame["n"] > 0).all()
        assert frame["Δ [95% CI]"].str.contains(r"\[.*, .*\]").all()
        assert not [c for c in frame.columns if c.startswith("Δ ") and c != "Δ [95% CI]"]  # narrow table
    assert "0.5B MT-QLoRA vs 0.5B zero-shot on gen-python: +50.0 pass@1 points [" in text
    assert "code quality (B − A): " in text and "findings per sample (pylint)" in text  # under the readings
    assert any("Small samples" in w.value for w in at.warning)
    values = next(f.value for f in at.dataframe if ("gen-python", "pass@1") in f.value.index)
    assert values.loc[("gen-python", "pass@1"), "0.5B MT-QLoRA"] == "0.667 (4/6)"


def test_one_column_says_there_is_nothing_to_compare(seeded) -> None:
    at = open_page("compare")
    at.radio(key="compare.source").set_value("any runs").run()
    at.multiselect(key="compare.runs").set_value([seeded.mt]).run()
    assert not at.exception
    infos = [i.value for i in at.info]
    assert any("nothing to compare" in i for i in infos)
    assert not [f for f in at.dataframe if "Δ [95% CI]" in f.value.columns]


@pytest.mark.usefixtures("seeded")
def test_many_comparisons_wait_for_a_click(monkeypatch) -> None:
    from ui import verdict

    monkeypatch.setattr(verdict, "AUTO_VERDICT_LIMIT", 2)
    at = open_page("compare")
    assert not at.exception
    assert not [f for f in at.dataframe if "Δ [95% CI]" in f.value.columns]
    at.button(key="compare.run_verdicts").click().run()
    assert not at.exception
    assert len([f for f in at.dataframe if "Δ [95% CI]" in f.value.columns]) == len(TASKS)
