"""Custom datasets as users have them, and the data preflight (issue 9, items 6 and 7).

Formats (JSONL, a JSON array, CSV/TSV, Parquet, a saved Hugging Face dataset) chosen by extension or
declared; errors that name the file, position, field and fix; repeated ids refused or numbered;
non-text and empty values rejected and reported per file; the preflight that `validate`, the Launch
page and `submit` run (rows found and rejected, ids, split sizes, prompts longer than the model's
context, empty evaluation sets) before anything is queued; and published-looking sets that train and
evaluate with one spec and no conversion.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine import api
from engine.data import preflight as data_preflight
from engine.data.prepare import subset
from engine.errors import SpecValidationError
from engine.runs import queue
from engine.settings import load_settings
from engine.spec import CustomTaskSpec, parse_run_spec
from engine.tasks import readers, rows
from engine.tasks.base import DataContext, DataError, Example
from engine.tasks.registry import get_task

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "datasets"
CONALA = FIXTURES / "conala_like.json"  # a JSON array of intent/snippet records, ids repeat, some snippets empty
INSTRUCTIONS = FIXTURES / "python_code_instructions.csv"  # instruction,input,output with a header
ROWS = [{"id": f"r{i}", "q": f"question {i}?", "a": f"answer_{i}()"} for i in range(40)]


def _declare(path: Path | str, **declared: Any) -> dict[str, Any]:
    return {"name": "mine", "family": "generation", "language": "python", "path": str(path),
            "input_field": "q", "target_field": "a", **declared}


def _spec(model: Any = "a/b", custom: dict[str, Any] | None = None, **extra: Any):
    data: dict[str, Any] = {"model": str(model), "tasks": [custom["name"]] if custom else ["gen-python"],
                            "custom_tasks": [custom] if custom else [], **extra}
    return parse_run_spec(data)


def _task(path: Path | str, **declared: Any):
    spec = _spec(custom=_declare(path, **declared))
    return get_task("mine", spec.custom_tasks)


def _all(task, ctx: DataContext) -> list[Example]:
    return [ex for split in ("train", "valid", "test") for ex in task.load(split, ctx)]


def _write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _save_hf(folder: Path, records: list[dict[str, Any]]) -> Path:
    import datasets

    datasets.disable_progress_bars()
    datasets.Dataset.from_list(records).save_to_disk(str(folder))
    return folder


# --- formats -------------------------------------------------------------------------------------


def _every_format(tmp_path: Path) -> dict[str, Path]:
    out = {"jsonl": _write_jsonl(tmp_path / "d.jsonl", ROWS)}
    out["json"] = tmp_path / "d.json"
    out["json"].write_text(json.dumps(ROWS, indent=2), encoding="utf-8")
    for name, sep in (("csv", ","), ("tsv", "\t")):
        out[name] = tmp_path / f"d.{name}"
        out[name].write_text("id" + sep + "q" + sep + "a\n" + "".join(
            f"{r['id']}{sep}{r['q']}{sep}{r['a']}\n" for r in ROWS), encoding="utf-8")
    out["parquet"] = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), out["parquet"])
    out["hf"] = _save_hf(tmp_path / "saved", ROWS)
    out["jsonl.gz"] = tmp_path / "d.jsonl.gz"
    out["jsonl.gz"].write_bytes(gzip.compress(out["jsonl"].read_bytes()))
    return out


def test_every_format_gives_the_same_examples(tmp_path):
    files = _every_format(tmp_path)
    ctx = DataContext(tmp_path)
    loaded = {fmt: _all(_task(path, id_field="id"), ctx) for fmt, path in files.items()}
    reference = loaded["jsonl"]
    assert len(reference) == 40 and {ex.id for ex in reference} == {r["id"] for r in ROWS}
    for fmt, examples in loaded.items():
        assert examples == reference, fmt
    assert readers.detect_format(files["hf"]) == "hf"
    assert readers.detect_format(files["jsonl.gz"]) == "jsonl"


def test_a_declared_format_wins_over_the_name_and_eval_path_has_its_own(tmp_path):
    misnamed = tmp_path / "export.txt"
    misnamed.write_text(json.dumps(ROWS), encoding="utf-8")
    with pytest.raises(DataError, match=r"export.txt.*cannot tell the dataset format.*format: jsonl\|json"):
        _task(misnamed).load("train", DataContext(tmp_path))
    evaluation = tmp_path / "eval.parquet"
    pq.write_table(pa.Table.from_pylist([{"q": "held out?", "a": "x()"}]), evaluation)
    task = _task(misnamed, format="json", eval_path=str(evaluation))
    ctx = DataContext(tmp_path)
    assert [ex.input for ex in task.load("test", ctx)] == ["held out?"]
    assert len(task.load("train", ctx)) + len(task.load("valid", ctx)) == 40
    # an eval file without a telling name takes the declared format
    other = tmp_path / "held_out.data"
    other.write_text(json.dumps([{"q": "other?", "a": "y()"}]), encoding="utf-8")
    assert [ex.target for ex in _task(misnamed, format="json", eval_path=str(other)).load("test", ctx)] == ["y()"]
    csv_eval = tmp_path / "held_out.csv"  # a telling name wins over `format`
    csv_eval.write_text("q,a\ncsv?,z()\n", encoding="utf-8")
    assert [ex.input for ex in _task(misnamed, format="json", eval_path=str(csv_eval)).load("test", ctx)] == ["csv?"]
    tab_eval = tmp_path / "held_out.csv.txt"
    tab_eval.write_text("q\ta\ntab?\tw()\n", encoding="utf-8")
    assert [ex.input for ex in _task(misnamed, format="json", eval_path=str(tab_eval), eval_format="tsv"
                                     ).load("test", ctx)] == ["tab?"]


def test_the_spec_knows_the_readers_formats():
    field = CustomTaskSpec.model_fields["format"]
    assert set(field.annotation.__args__[0].__args__) == set(readers.FORMATS)  # type: ignore[union-attr]
    with pytest.raises(SpecValidationError, match=r"custom_tasks\[0\].format"):
        _spec(custom=_declare("x.jsonl", format="xlsx"))


def test_json_lines_saved_as_json_and_a_byte_order_mark_are_read(tmp_path):
    lines = tmp_path / "export.json"  # what datasets' to_json writes
    lines.write_text("\ufeff" + "".join(json.dumps(r) + "\n" for r in ROWS[:12]), encoding="utf-8")
    assert len(_all(_task(lines, eval_fraction=0.3), DataContext(tmp_path))) == 12
    bom_csv = tmp_path / "excel.csv"
    bom_csv.write_text("\ufeffq,a\r\nwhy?,because()\r\n", encoding="utf-8")
    check = _task(bom_csv).file("data", DataContext(tmp_path))
    assert check.rows == 1 and check.kept[0].input == "why?"


# --- errors that name the file, the position, the field and the fix -----------------------------


@pytest.mark.parametrize(("name", "content", "pattern"), [
    ("latin1.jsonl", b'{"q": "ok?", "a": "x"}\n{"q": "caf\xe9?", "a": "y"}\n',
     r"latin1.jsonl, line 2: not UTF-8 text \(byte 0xe9.*Fix: save the file as UTF-8"),
    ("latin1.csv", b'q,a\nok?,x\ncaf\xe9?,y\n', r"latin1.csv, line 3: not UTF-8"),
    ("broken.jsonl", b'{"q": "ok?", "a": "x"}\n{"q": "cut off", "a": \n',
     r"broken.jsonl, line 2: not valid JSON .*Fix: each line must be one complete JSON object"),
    ("array.jsonl", json.dumps(ROWS[:3], indent=1).encode(),
     r"array.jsonl, line 1: the file is a JSON array, not JSON Lines.*Fix: name the file .json, or declare "
     r"`format: json`"),
    ("missing.jsonl", b'{"q": "ok?", "a": "x"}\n{"q": "no answer?", "answer": "y"}\n',
     r"missing.jsonl, line 2, field 'a': missing field 'a'. Fix: .*present: answer, q"),
    ("missing.json", json.dumps([{"q": "ok?", "a": "x"}, {"q": "?"}]).encode(),
     r"missing.json, record 2, field 'a': missing field 'a'"),
    ("ragged.csv", b'q,a\nok?,x\n"one, two",x,extra\n', r"ragged.csv, line 3: 3 values, but the header names 2"),
    ("header.csv", b'question,answer\nok?,x\n', r"header.csv, field 'q': no column 'q' in the header row.*"
     r"question, answer"),
    ("table.xlsx", b"PK\x03\x04", r"table.xlsx: cannot tell the dataset format.*Fix: declare the format"),
    ("object.json", json.dumps({"data": ROWS[:2]}).encode(), r"one JSON object, not an array.*under 'data'"),
    ("lines_with_array.jsonl", b'{"q": "ok?", "a": "x"}\n[1, 2]\n', r"line 2: the line is a JSON array"),
])
def test_unreadable_files_are_data_errors_naming_the_place_and_the_fix(tmp_path, name, content, pattern):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=pattern):
        _task(path).load("train", DataContext(tmp_path))


def test_columnar_sources_check_their_columns_up_front(tmp_path):
    pq.write_table(pa.Table.from_pylist([{"prompt": "p", "completion": "c"}]), tmp_path / "x.parquet")
    with pytest.raises(DataError, match=r"x.parquet, field 'q': no column 'q' in the Parquet schema.*prompt, "
                                        r"completion"):
        _task(tmp_path / "x.parquet").load("train", DataContext(tmp_path))
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable Parquet file"):
        _task(tmp_path / "bad.parquet").load("train", DataContext(tmp_path))


def test_a_dataset_dict_folder_says_which_split_to_point_at(tmp_path):
    import datasets

    datasets.disable_progress_bars()
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:30]),
                                   "test": datasets.Dataset.from_list(ROWS[30:])})
    splits.save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(DataError, match=r"a DatasetDict with splits train, test.*Fix: set path to one split's "
                                        r"folder \(e.g. .*dd/train\) and eval_path to another"):
        _task(tmp_path / "dd").load("train", DataContext(tmp_path))
    task = _task(tmp_path / "dd" / "train", eval_path=str(tmp_path / "dd" / "test"))
    assert [ex.input for ex in task.load("test", DataContext(tmp_path))] == [r["q"] for r in ROWS[30:]]
    shuffled = datasets.Dataset.from_list(ROWS).shuffle(seed=3).select(range(5))
    shuffled.save_to_disk(str(tmp_path / "picked"))
    check = _task(tmp_path / "picked").file("data", DataContext(tmp_path))
    assert [r.input for r in check.kept] == [r["q"] for r in shuffled]


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"nowhere.jsonl: dataset of custom task 'mine' not found"):
        _task("nowhere.jsonl").load("train", DataContext(tmp_path))


# --- ids -----------------------------------------------------------------------------------------


def test_repeated_ids_are_refused_by_default_with_their_rows_and_count(tmp_path):
    task = _task(CONALA, id_field="question_id", input_field="intent", target_field="snippet")
    with pytest.raises(DataError) as caught:
        task.load("train", DataContext(tmp_path))
    message = str(caught.value)
    assert "10 ids repeat (10 records share an id with an earlier one)" in message
    assert "'36875258' at records 1, 2;" in message and "'40273313' at records 4, 5;" in message
    assert "and 5 more repeated ids" in message and "duplicate_ids: number" in message
    assert message.count("record") < 15  # a summary, not one message per row


def test_numbered_ids_are_unique_and_deterministic(tmp_path):
    task = _task(CONALA, id_field="question_id", input_field="intent", target_field="snippet",
                 duplicate_ids="number")
    ctx = DataContext(tmp_path)
    examples = _all(task, ctx)
    ids = [ex.id for ex in examples]
    assert len(ids) == len(set(ids)) == 37  # 40 records, 3 empty snippets
    assert {"36875258", "36875258#2", "1024847#2", "4174941#2"} <= set(ids)
    check = task.file("data", ctx)
    assert check.numbered == 10 and [r.id for r in check.kept][:5] == ["36875258", "36875258#2", "3283984",
                                                                       "40273313", "40273313#2"]
    assert "10 repeated ids numbered" in " ".join(check.warnings())
    # an id that already reads like a numbered one is not reused
    clash = _write_jsonl(tmp_path / "clash.jsonl", [{"id": "x", "q": "1", "a": "a"}, {"id": "x#2", "q": "2", "a": "b"},
                                                    {"id": "x", "q": "3", "a": "c"}])
    kept = _task(clash, id_field="id", duplicate_ids="number").file("data", ctx).kept
    assert [r.id for r in kept] == ["x", "x#2", "x#3"]


# --- rejected rows -------------------------------------------------------------------------------


def _values_file(tmp_path: Path, bad: list[Any], good: int = 60) -> Path:
    records = [{"id": f"g{i}", "q": f"q{i}", "a": f"a{i}"} for i in range(good)]
    records += [{"id": f"b{i}", "q": f"bad {i}", "a": value} for i, value in enumerate(bad)]
    return _write_jsonl(tmp_path / "values.jsonl", records)


def test_non_text_and_empty_targets_are_rejected_rows_reported_per_reason(tmp_path):
    path = _values_file(tmp_path, [True, False, 3, 2.5, ["a"], {"k": 1}, None, "", "   "], good=90)
    task = _task(path, id_field="id")
    ctx = DataContext(tmp_path)
    examples = _all(task, ctx)
    assert len(examples) == 90 and all(ex.id.startswith("g") for ex in examples)
    assert not {"True", "False", "3", "2.5", "['a']"} & {ex.target for ex in examples}
    check = task.file("data", ctx)
    assert check.rows == 99 and check.rejected_count == 9
    assert check.rejected == {"non-text target 'a' (true/false)": [91, 92], "non-text target 'a' (number)": [93, 94],
                              "non-text target 'a' (list)": [95], "non-text target 'a' (object)": [96],
                              "empty target 'a'": [97, 98, 99]}
    warning = " ".join(check.warnings())
    assert warning.startswith("9 of 99 lines skipped") and "lines 97, 98, 99" in warning


def test_many_rejected_rows_are_one_summary_not_one_message_each(tmp_path):
    path = _values_file(tmp_path, [""] * 79, good=40)
    with pytest.raises(DataError) as caught:
        _task(path).load("train", DataContext(tmp_path))
    message = str(caught.value)
    assert "79 of 119 lines rejected (66%, more than max_bad_fraction 0.1)" in message
    assert "empty target 'a': lines 41, 42, 43, 44, 45 and 74 more" in message
    assert message.count("line") < 10
    assert len(_all(_task(path, max_bad_fraction=0.7), DataContext(tmp_path))) == 40


def test_bad_rows_reject_refuses_any_rejected_row(tmp_path):
    path = _values_file(tmp_path, [7])
    with pytest.raises(DataError, match=r"1 of 61 lines rejected \(non-text target 'a' \(number\): line 61\).*"
                                        r"bad_rows: skip"):
        _task(path, bad_rows="reject").load("train", DataContext(tmp_path))


def test_inputs_ids_and_tests_are_checked_too(tmp_path):
    records = [{"id": 1, "q": "first?", "a": "x", "t": ["assert f(1) == 1", "assert f(2) == 2"]},
               {"id": 2.0, "q": "second?", "a": "y", "t": "assert f(3) == 3"},
               {"id": None, "q": "no id?", "a": "z", "t": "assert 1"},
               {"id": 4, "q": 4, "a": "z", "t": "assert 1"},
               {"id": 5, "q": "no tests?", "a": "z", "t": []}]
    path = _write_jsonl(tmp_path / "t.jsonl", records)
    check = _task(path, id_field="id", test_field="t", max_bad_fraction=1).file("data", DataContext(tmp_path))
    assert [r.id for r in check.kept] == ["1", "2"]
    assert check.kept[0].meta == {"test_setup_code": "", "test_list": ["assert f(1) == 1", "assert f(2) == 2"]}
    assert check.kept[1].meta["test_list"] == ["assert f(3) == 3"]
    assert check.rejected == {"empty id 'id'": [3], "non-text input 'q' (number)": [4], "empty tests 't'": [5]}


def test_rows_positions_summary():
    assert rows.positions("line", [3]) == "line 3"
    assert rows.positions("record", list(range(1, 9))) == "records 1, 2, 3, 4, 5 and 3 more"


# --- empty evaluation sets -----------------------------------------------------------------------


def test_no_evaluation_set_is_an_error(tmp_path):
    with pytest.raises(SpecValidationError, match=r"eval_fraction.*no evaluation set.*eval_path"):
        _spec(custom=_declare("x.jsonl", eval_fraction=0))
    _spec(custom=_declare("x.jsonl", eval_fraction=0, eval_path="y.jsonl"))  # fine with an eval_path
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="the data file has no lines"):
        _task(tmp_path / "empty.jsonl").load("test", DataContext(tmp_path))
    few = _write_jsonl(tmp_path / "few.jsonl", ROWS[:2])
    with pytest.raises(DataError, match=r"custom task 'mine' has no evaluation examples \(2 usable rows"):
        _task(few, id_field="id").load("test", DataContext(tmp_path))
    all_bad = _values_file(tmp_path, [None] * 5, good=0)
    with pytest.raises(DataError, match="all 5 lines rejected"):
        _task(all_bad).load("test", DataContext(tmp_path))


# --- the preflight -------------------------------------------------------------------------------


def _report(spec, settings=None):
    return queue.preflight_report(spec, settings or load_settings())


def test_preflight_reports_rows_rejections_ids_and_splits_per_file(workspace, tiny_model, tmp_path):
    spec = _spec(tiny_model, _declare(CONALA, id_field="question_id", input_field="intent", target_field="snippet",
                                      duplicate_ids="number"), eval={"limit": 3})
    errors, report = _report(spec)
    assert errors == []
    assert report.context == 2048 and "tokenizer.json" in report.token_note
    (task,) = report.tasks
    (info,) = task.files
    assert (info["format"], info["unit"], info["rows"], info["kept"], info["rejected"]) == ("json", "record", 40,
                                                                                             37, 3)
    assert info["rejected_by_reason"] == {"empty target 'snippet'": {"count": 3, "first": [6, 15, 34]}}
    assert info["duplicate_ids"]["ids"] == 10 and info["duplicate_ids"]["numbered"] == 10
    assert sum(task.splits.values()) == 37 and task.splits["test"] >= 1
    assert task.evaluated == min(3, task.splits["test"])
    assert task.too_long == {"train": 0, "valid": 0, "test": 0} and 0 < task.longest_prompt_tokens < 200
    text = "\n".join(report.lines())
    assert "conala_like.json (json): 40 records, 3 rejected (empty target 'snippet': 3), 10 repeated ids" in text
    assert "3 of 40 records skipped" in text and "splits: train" in text


def test_preflight_errors_name_the_task_file_and_fix(workspace, tiny_model, tmp_path):
    _write_jsonl(tmp_path / "train.jsonl", ROWS)
    (tmp_path / "eval.jsonl").write_text("", encoding="utf-8")
    spec = _spec(tiny_model, _declare(tmp_path / "train.jsonl", eval_path=str(tmp_path / "eval.jsonl"),
                                      id_field="id"))
    errors, report = _report(spec)
    assert [(e.path, e.message.split(": ")[-1]) for e in errors] == [("custom_tasks[0].eval_path",
                                                                     "the evaluation file has no lines")]
    assert report.tasks[0].files[0]["rows"] == 40 and report.tasks[0].files[1]["rows"] == 0
    spec = _spec(tiny_model, _declare(tmp_path / "nowhere.jsonl"))
    (error,) = _report(spec)[0]
    assert error.path == "custom_tasks[0].path" and "nowhere.jsonl" in error.message and error.fix


def test_a_huge_evaluation_prompt_is_caught_before_training(workspace, tiny_model, tmp_path):
    huge = "x = 1\n" * 1_750_000  # ~10 MB
    _write_jsonl(tmp_path / "train.jsonl", ROWS)
    _write_jsonl(tmp_path / "eval.jsonl", [{"q": "fine?", "a": "ok()"}, {"q": huge, "a": "ok()"}])
    spec = _spec(tiny_model, _declare(tmp_path / "train.jsonl", eval_path=str(tmp_path / "eval.jsonl")))
    errors, report = _report(spec)
    (error,) = errors
    assert error.path == "tasks[0]" and "1 of the 2 evaluation prompts are longer than the model's context (2048" in \
        error.message and "eval-2" in error.message and "shorten or remove" in error.fix
    assert report.tasks[0].too_long["test"] == 1
    # in the training data it is a warning: training truncates it
    _write_jsonl(tmp_path / "train.jsonl", [*ROWS, {"id": "big", "q": huge, "a": "ok()"}])
    _write_jsonl(tmp_path / "eval.jsonl", [{"q": "fine?", "a": "ok()"}])
    errors, report = _report(spec)
    assert errors == []
    assert any("prompts are longer than the model's context" in w for w in report.tasks[0].warnings)
    with pytest.raises(SpecValidationError):
        _write_jsonl(tmp_path / "eval.jsonl", [{"q": huge, "a": "ok()"}])
        queue.submit_run(spec, load_settings())
    assert not list(load_settings().runs_dir.glob("*/spec.json"))  # nothing was queued


def test_prompt_tokens_are_counted_with_the_local_tokenizer(workspace, tiny_model, tmp_path):
    text = "def frobnicate(quux): return quux ** 3 % 7  # ñ\n" * 60  # over LONG_BYTES: counted
    _write_jsonl(tmp_path / "train.jsonl", [*ROWS, {"id": "long", "q": text, "a": "ok()"}])
    spec = _spec(tiny_model, _declare(tmp_path / "train.jsonl", id_field="id", eval_fraction=0.5))
    limits = data_preflight.model_limits(spec, load_settings())
    from tokenizers import Tokenizer

    exact = len(Tokenizer.from_file(str(tiny_model / "tokenizer.json")).encode(text, add_special_tokens=False).ids)
    assert limits.count([text]) == [exact + data_preflight.estimate(0)]
    assert exact != data_preflight.estimate(len(text)) - data_preflight.estimate(0)
    # a hub id that is not cached: the context check is skipped, with a note
    spec_hub = _spec("someone/not-cached", _declare(tmp_path / "train.jsonl", id_field="id"))
    limits = data_preflight.model_limits(spec_hub, load_settings())
    assert limits.context is None and "context check skipped" in limits.context_note


def test_the_context_comes_from_config_json(tmp_path, monkeypatch):
    from engine.data import tokens

    assert tokens.context_of({"max_position_embeddings": 8192}) == 8192
    assert tokens.context_of({"n_positions": 1024}) == 1024
    assert tokens.context_of({"text_config": {"max_position_embeddings": 4096}}) == 4096
    assert tokens.context_of({"hidden_size": 8}) is None
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}), encoding="utf-8")
    monkeypatch.setenv("CODETUNE_HOME", str(tmp_path / "home"))
    limits = tokens.model_limits(_spec(folder), load_settings())
    assert limits.context is None and "states no max_position_embeddings" in limits.context_note
    assert limits.tokenizer is None and "estimated as characters / 3.5" in limits.counting_note


def test_builtin_tasks_report_their_split_sizes(workspace, tiny_model, data_dir):
    spec = _spec(tiny_model, None, eval={"limit": 7}, data_dir=str(data_dir))
    errors, report = _report(spec)
    assert errors == []
    (task,) = report.tasks
    assert task.kind == "built-in" and task.splits == {"train": 374, "valid": 90, "test": 164}
    assert task.evaluated == 7 and task.duplicate_ids == {"train": 0, "valid": 0, "test": 0}
    from engine.data.inventory import summarise

    row = next(r for r in summarise(data_dir) if r["task"] == "gen-python")
    assert (row["train"], row["valid"], row["test"]) == (374, 90, 164)


def test_the_evaluated_positions_are_the_runs(tmp_path):
    examples = [Example(f"e{i}", "t", f"in {i}", "out") for i in range(50)]
    kept = subset(examples, 9, salt="eval:t")
    assert [examples[i] for i in data_preflight.eval_indices(50, 9, "eval:t")] == kept
    assert data_preflight.eval_indices(5, 9, "eval:t") == [0, 1, 2, 3, 4]


def test_validate_fails_naming_the_file_instead_of_saying_ok(workspace, tiny_model, tmp_path, capsys):
    from ui.cli import main

    cases = {
        "missing": (tmp_path / "nowhere.jsonl", None),
        "broken": (tmp_path / "broken.jsonl", b'{"q": "a?", "a": "b"}\n{"q": \n'),
        "field": (tmp_path / "field.jsonl", b'{"question": "a?", "a": "b"}\n'),
        "array": (tmp_path / "array.jsonl", json.dumps(ROWS).encode()),
        "latin1": (tmp_path / "latin1.jsonl", b'{"q": "caf\xe9?", "a": "b"}\n'),
    }
    for name, (path, content) in cases.items():
        if content is not None:
            path.write_bytes(content)
        spec_file = tmp_path / f"{name}.json"
        spec_file.write_text(json.dumps({"model": str(tiny_model), "tasks": ["mine"],
                                         "custom_tasks": [_declare(path)]}), encoding="utf-8")
        assert main(["validate", str(spec_file)]) == 1, name
        out = capsys.readouterr().out
        errors = [line for line in out.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith("error: custom_tasks[0].path = "), (name, out)
        assert path.name in errors[0] and "Fix: " in errors[0], (name, out)
        assert out.rstrip().endswith("nothing would be queued"), out
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"model": str(tiny_model), "tasks": ["mine"], "custom_tasks": [
        _declare(CONALA, input_field="intent", target_field="snippet", id_field="question_id",
                 duplicate_ids="number")]}), encoding="utf-8")
    assert main(["validate", str(good)]) == 0
    out = capsys.readouterr().out
    assert "conala_like.json (json): 40 records, 3 rejected" in out and "splits: train" in out
    assert out.rstrip().endswith("ok")


def test_api_data_report_groups_the_runs_of_a_study(workspace, tiny_model, tmp_path):
    custom = _declare(CONALA, input_field="intent", target_field="snippet")
    study = {"kind": "study", "name": "s", "models": [str(tiny_model)], "tasks": ["mine"],
             "configurations": [{"name": "ST-LoRA", "method": "lora"}, {"name": "ST-FFT", "method": "fft"}],
             "base": {"custom_tasks": [custom], "eval": {"limit": 2}}}
    result = api.data_report(study)
    assert result["kind"] == "study" and result["ok"], result["errors"]
    # the two fine-tuning runs share one report; the zero-shot baseline checks no training prompts
    assert sorted(len(r["runs"]) for r in result["reports"]) == [1, 2]
    report = result["reports"][0]
    assert report["context"] == 2048 and set(report["tasks"][0]["splits"]) == {"train", "valid", "test"}
    assert report["tasks"][0]["files"][0]["rejected"] == 3
    assert any("conala_like.json" in line for line in result["lines"])
    bad = api.data_report({"model": "x", "tasks": []})
    assert not bad["ok"] and bad["errors"] and bad["reports"] == []


def test_launch_and_submit_go_through_the_data_preflight(workspace, tiny_model, tmp_path):
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"q": f"q{i}", "a": True} for i in range(3)])
    data = {"model": str(tiny_model), "tasks": ["mine"], "custom_tasks": [_declare(bad)]}
    spec, errors = api.validate(data)  # what the Launch page's Validate button calls
    assert spec is not None and len(errors) == 1
    assert errors[0].path == "custom_tasks[0].path" and "all 3 lines rejected (non-text target 'a' (true/false)" \
        in errors[0].message
    with pytest.raises(SpecValidationError, match="all 3 lines rejected"):
        api.submit(data)
    assert not list(load_settings().runs_dir.glob("*/spec.json"))  # nothing was queued


def test_each_file_is_read_once_while_unchanged(workspace, tiny_model, tmp_path, monkeypatch):
    path = _write_jsonl(tmp_path / "cached.jsonl", ROWS)
    calls = []
    original = rows.read_records
    monkeypatch.setattr(rows, "read_records", lambda *a, **k: calls.append(a[0]) or original(*a, **k))
    spec = _spec(tiny_model, _declare(path))
    for _ in range(3):
        assert _report(spec)[0] == []
    assert calls == [path]
    _write_jsonl(path, ROWS[:20])
    assert _report(spec)[1].tasks[0].files[0]["rows"] == 20 and len(calls) == 2


# --- published-looking sets train and evaluate with one spec, no conversion -----------------------


MBPP_LIKE = [
    {"task_id": 600 + k, "text": f"Write a function to add {k} to a number.",
     "code": f"def add_{k}(x):\n    return x + {k}",
     "test_list": [f"assert add_{k}(1) == {1 + k}", f"assert add_{k}(-{k}) == 0"], "test_setup_code": ""}
    for k in range(1, 25)
]


def _published(tmp_path: Path) -> dict[str, dict[str, Any]]:
    pq.write_table(pa.Table.from_pylist(MBPP_LIKE), tmp_path / "mbpp_like.parquet")
    saved = _save_hf(tmp_path / "saved_dataset", [{"docstring": f"Return {k} times x.", "code": f"def f(x):\n"
                                                   f"    return {k} * x"} for k in range(20)])
    return {
        "json": {"path": str(CONALA), "input_field": "intent", "target_field": "snippet",
                 "id_field": "question_id", "duplicate_ids": "number", "eval_fraction": 0.2},
        "csv": {"path": str(INSTRUCTIONS), "input_field": "instruction", "target_field": "output",
                "eval_fraction": 0.2},
        "parquet": {"path": str(tmp_path / "mbpp_like.parquet"), "input_field": "text", "target_field": "code",
                    "id_field": "task_id", "test_field": "test_list", "eval_fraction": 0.2},
        "hf": {"path": str(saved), "input_field": "docstring", "target_field": "code", "eval_fraction": 0.2},
    }


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet", "hf"])
def test_a_published_dataset_trains_and_evaluates_with_one_spec(workspace, tiny_model, tmp_path, fmt):
    from engine.phases import recipe
    from engine.runs.rundir import RunDir, read_json, release_lock

    custom = {"name": f"pub-{fmt}", "family": "generation", "language": "python", **_published(tmp_path)[fmt]}
    spec = parse_run_spec({
        "model": {"id": str(tiny_model)}, "method": "lora", "tasks": [custom["name"]], "custom_tasks": [custom],
        "lora": {"target_modules": ["q_proj", "v_proj"]},
        "train": {"max_steps": 3, "batch_size": 2, "grad_accum": 1, "max_length": 128, "save_steps": 3},
        "eval": {"limit": 2, "max_new_tokens": 8, "batch_size": 2, "timeout_s": 20},
    })
    settings = load_settings()
    run = RunDir(settings.runs_dir / queue.submit_run(spec, settings).run_id)  # the preflight passes
    fd = run.try_lock()
    try:
        state = recipe.execute(run, settings)
    finally:
        release_lock(fd)
    assert state == "done", run.read_status().error
    metrics = read_json(run.file("metrics.json"))["tasks"][custom["name"]]
    assert metrics, metrics
    if fmt == "parquet":
        assert "pass@1" in metrics  # the list of asserts ran as the tests
    evaluated = [json.loads(line) for line in run.file("eval_examples.jsonl").read_text().splitlines()]
    assert len(evaluated) == 2 and len({e["id"] for e in evaluated}) == 2
    assert read_json(run.file("train_summary.json"))["steps"] == 3
