"""Query results and tables as Parquet and CSV bytes (the download buttons), read back equal."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
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


def read_csv_as(data: bytes, like: pd.DataFrame) -> pd.DataFrame:
    """CSV bytes back with the types of `like` (an empty field, NULL or empty string, reads as NULL)."""
    options = pacsv.ConvertOptions(column_types=pa.Schema.from_pandas(like, preserve_index=False),
                                   strings_can_be_null=True)
    return pacsv.read_csv(io.BytesIO(data), convert_options=options).to_pandas()


def blank_as_null(frame: pd.DataFrame) -> pd.DataFrame:
    """Every missing value as None and every empty string as None (object columns)."""
    out = frame.astype(object)
    return out.where(out.notna() & (out != ""), None)


@pytest.mark.parametrize("name", ["outcomes", "metrics", "findings"])
def test_tables_export_to_parquet_and_csv_and_read_back_equal(filled, name):
    settings = filled[0]
    original = table(settings, name)
    assert len(original) > 0
    keys = list(original.columns[:4])
    same(pd.read_parquet(io.BytesIO(export.frame_bytes(original, "parquet"))), original, keys)
    # CSV has no NULL: pandas writes NULL and the empty string alike, as an empty field.
    same(blank_as_null(read_csv_as(export.frame_bytes(original, "csv"), original)), blank_as_null(original), keys)


def test_a_comparison_exports_like_the_query_returns_it(filled):
    settings, a, b = filled
    frame = queries.compare_table(settings, [a, b])
    exported = export.frame_bytes(queries.run_query(settings, "compare_table", run_ids=[a, b]), "parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(exported)), frame, check_dtype=False)
    paired = queries.run_query(settings, "paired_pass", run_a=a, run_b=b, task=TASK)
    back = pd.read_csv(io.BytesIO(export.frame_bytes(paired, "csv")))
    assert back.passed_a.tolist() == queries.paired_pass(settings, a, b, TASK).passed_a.tolist()


def test_frame_bytes_for_download_buttons(filled):
    settings = filled[0]
    frame = queries.runs_overview(settings)[["run_id", "label", "model_size"]]
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(export.frame_bytes(frame, "csv"))), frame,
                                  check_dtype=False)
    back = pd.read_parquet(io.BytesIO(export.frame_bytes(frame, "parquet")))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)


def test_bad_names_and_formats_are_refused(filled):
    settings = filled[0]
    with pytest.raises(KeyError, match="unknown query"):
        queries.run_query(settings, "runs; DROP TABLE runs")
    with pytest.raises(ValueError, match="unknown export format"):
        export.frame_bytes(queries.runs_overview(settings), "xlsx")
