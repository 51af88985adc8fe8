"""The cost views on the seeded store: Compare's "Cost and frontier" section (the per-run cost table,
a chart per task with the Pareto frontier marked and n in the hover) and the Runs page's
throughput line (tokens/s, MFU on a GPU)."""

from __future__ import annotations

import base64
import json

import numpy as np

from tests.ui.helpers import open_page, texts_of


def _array(value) -> list:
    """A trace's x or y as a list (plotly writes numeric arrays as base64 'bdata')."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)


def _frontier_chart(at) -> dict:
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        if any(trace.get("name") == "Pareto frontier" for trace in spec["data"]):
            return spec
    raise AssertionError("no chart with a Pareto frontier")


def test_compare_shows_cost_table_and_frontier_per_task(seeded):
    at = open_page("compare")
    assert not at.exception, [e.value for e in at.exception]
    assert any(e.label == "Cost and frontier" for e in at.expander)
    table = next(f.value for f in at.dataframe if "MFU" in f.value.columns)
    assert len(table) == 6  # the study's finished runs
    assert (table["MFU"] != "–").sum() == 5 and table["MFU"].str.endswith("%").sum() == 5  # zero-shot: none
    zero = table["configuration"] == "zero-shot"
    assert (table.loc[zero, "training time"] == "0 s").all() and (table.loc[~zero, "tokens/s"] != "–").all()
    chart = _frontier_chart(at)
    titles = [a["text"] for a in chart["layout"]["annotations"]]
    assert titles == ["gen-python · pass@1", "sum-java · codebleu", "trans-java-cs · codebleu"]
    text = texts_of(at)
    assert "against training time" in text and "On the frontier" in text
    frontiers = [t for t in chart["data"] if t["name"] == "Pareto frontier"]
    assert len(frontiers) == 3  # one per task
    for frontier in frontiers:
        xs = _array(frontier["x"])
        # zero-shot trains nothing: cost 0, so it is always on the frontier
        assert xs and min(xs) == 0
    points = [t for t in chart["data"] if "customdata" in t]  # (the others: frontier lines, legend entries)
    assert len(points) == 3 and all("n = " in t["hovertemplate"] for t in points)
    legend = {t["name"] for t in chart["data"] if t.get("showlegend", True)}
    assert legend == {"zero-shot", "ST-QLoRA", "MT-QLoRA", "Pareto frontier"}
    # the MT run's gen-python point carries its n (6 samples)
    assert any(c[1] == "6" for t in points for c in t["customdata"])
    # another cost axis
    at.selectbox(key="compare.cost_axis").set_value("trainable parameters").run()
    assert not at.exception
    assert "against trainable parameters" in texts_of(at)


def test_runs_page_shows_tokens_per_second_and_mfu(seeded):
    at = open_page("runs")
    at.selectbox(key="runs.selected").set_value(seeded.mt).run()
    assert not at.exception
    text = texts_of(at)
    assert "tokens/s" in text and "MFU" in text and "NVIDIA H100" in text
    at.selectbox(key="runs.selected").set_value(seeded.zero).run()
    assert "Training throughput" not in texts_of(at)  # zero-shot trains nothing


def test_throughput_line_on_cpu_and_unknown_gpu():
    import pandas as pd

    from ui.cost import throughput_line

    row = {"tokens_per_s": 1234.4, "mfu": None, "device": "cpu", "device_name": None, "peak_flops": None,
           "peak_mem_mb": 900.0, "train_seconds": 65.0, "trainable_params": 4_400_000, "total_params": 494_000_000}
    line = throughput_line(pd.DataFrame([row]))
    assert "1,234 tokens/s" in line and "on the CPU" in line and "MFU **" not in line
    assert "4.4M of 494M parameters" in line and "1 min 5 s" in line
    gpu = throughput_line(pd.DataFrame([{**row, "device": "cuda", "device_name": "NVIDIA A10G"}]))
    assert "MFU unknown" in gpu and "A10G" in gpu
    assert throughput_line(pd.DataFrame([{**row, "tokens_per_s": None}])) is None
