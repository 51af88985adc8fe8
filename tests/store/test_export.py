"""Export of tables and query results to Parquet and CSV, read back equal."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from store import db, export, ingest, queries
from tests.store.conftest import TASK, known_statuses


@pytest.fixture()
def filled(settings, make_run):
    a = make_run(n=6, statuses=known_statuses(0))
    b = make_run(n=6, seed=1, model="org/model-1.5B", statuses=known_statuses(1))
    ingest.ingest_all(settings)
    return settings, a.name, b.name


def table(settings, name: str) -> pd.DataFrame:
    with db.connect(settings) as conn:
        return conn.execute(f"SELECT * FROM {name}").df()


def same(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> None:
    left = left.sort_values(keys).reset_index(drop=True)
    right = right.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right, check_dtype=False)


@pytest.mark.parametrize("name", ["outcomes", "metrics", "findings"])
def test_tables_export_to_parquet_and_csv_and_read_back_equal(filled, tmp_path, name):
    settings = filled[0]
    original = table(settings, name)
    assert len(original) > 0
    keys = list(original.columns[:4])
    written = export.export_table(settings, name, tmp_path / f"{name}.parquet")
    same(pq.read_table(written).to_pandas(), original, keys)
    csv = export.export_table(settings, name, tmp_path / "out" / f"{name}.txt", fmt="csv")
    # NULL is an empty field, an empty string a quoted one: read back with the types and that rule.
    options = pacsv.ConvertOptions(column_types=pq.read_schema(written), strings_can_be_null=True,
                                   quoted_strings_can_be_null=False)
    same(pacsv.read_csv(csv, convert_options=options).to_pandas(), original, keys)


def test_a_comparison_exports_like_the_query_returns_it(filled, tmp_path):
    settings, a, b = filled
    frame = queries.compare_table(settings, [a, b])
    path = export.export_query(settings, "compare_table", tmp_path / "compare.parquet", run_ids=[a, b])
    pd.testing.assert_frame_equal(pd.read_parquet(path), frame, check_dtype=False)
    csv = export.export_query(settings, "paired_pass", tmp_path / "paired.csv", run_a=a, run_b=b, task=TASK)
    back = pd.read_csv(csv)
    assert back.passed_a.tolist() == queries.paired_pass(settings, a, b, TASK).passed_a.tolist()


def test_frame_bytes_for_download_buttons(filled):
    settings = filled[0]
    frame = queries.runs_overview(settings)[["run_id", "label", "model_size"]]
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(export.frame_bytes(frame, "csv"))), frame,
                                  check_dtype=False)
    back = pd.read_parquet(io.BytesIO(export.frame_bytes(frame, "parquet")))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_bad_names_and_formats_are_refused(filled, tmp_path):
    settings = filled[0]
    with pytest.raises(ValueError, match="unknown table"):
        export.export_table(settings, "runs; DROP TABLE runs", tmp_path / "x.csv")
    with pytest.raises(ValueError, match="unknown export format"):
        export.export_table(settings, "runs", tmp_path / "x.xlsx")
    assert not list(tmp_path.glob(".*tmp"))
