"""`codetune data fetch codexglue` (engine.data.fetch), offline: small fixtures in the hub's schema stand
in for the downloads. The files land in the loaders' layout and the loaders then use the full sets;
a second fetch downloads nothing; an interrupted one keeps what it finished and leaves no partial file;
without network the error says how to fix it."""

from __future__ import annotations

import shutil

import pytest

from engine.data.fetch import CODE2CODE, CODE2TEXT, fetch_codexglue
from engine.tasks import corpora
from engine.tasks.base import DataContext
from engine.tasks.registry import get_task


def _code2text_row(language: str, split: str, i: int) -> dict:
    """A row as `datasets` gives google/code_x_glue_ct_code_to_text (every column of the hub's schema)."""
    if language == "python":
        code = f'def f{i}(x):\n    """Return x plus {i}."""\n    return x + {i}\n'
        tokens = ["def", f"f{i}", "(", "x", ")", ":", "return", "x", "+", str(i)]
    else:
        code = f"/** Return x plus {i}. */\npublic int f{i}(int x) {{ return x + {i}; }}"
        tokens = ["public", "int", f"f{i}", "(", "int", "x", ")", "{", "return", "x", "+", str(i), ";", "}"]
    return {"id": i, "repo": f"org/{split}-{i % 3}", "path": f"src/m{i}.py", "func_name": f"f{i}",
            "original_string": code, "language": language, "code": code, "code_tokens": tokens,
            "docstring": f"Return x plus {i}.", "docstring_tokens": ["Return", "x", "plus", str(i), "."],
            "sha": "abc", "url": f"https://github.com/org/{split}/blob/abc/m{i}#L{i}"}


class Hub:
    """A stand-in for `datasets.load_dataset`: fixtures in the hub's schema, calls counted, failures on cue."""

    def __init__(self, fail_on=None):
        self.calls: list[tuple[str, str | None, str]] = []
        self.fail_on = fail_on

    def __call__(self, dataset, config, split):
        from datasets import Dataset

        self.calls.append((dataset, config, split))
        if self.fail_on and self.fail_on(dataset, config, split):
            raise ConnectionError("Couldn't reach the Hub")
        sizes = {"train": 6, "validation": 3, "test": 2}
        if dataset == CODE2TEXT:
            return Dataset.from_list([_code2text_row(config, split, i) for i in range(sizes[split])])
        assert dataset == CODE2CODE and config is None
        return Dataset.from_list([{"id": i, "java": f"public int a{i}() {{ return {i}; }}",
                                   "cs": f"public int A{i}() {{ return {i}; }}"} for i in range(sizes[split])])


def test_fetch_writes_the_loaders_layout_and_the_loaders_use_it(tmp_path):
    hub, lines = Hub(), []
    report = fetch_codexglue(tmp_path, load=hub, log=lines.append).to_dict()
    assert report["ok"] and {f["state"] for f in report["files"]} == {"fetched"}
    assert (tmp_path / "codexglue_code2text_full" / "python" / "valid.jsonl").is_file()
    assert (tmp_path / "codexglue_code2code_trans" / "test.java-cs.txt.cs").read_text().count("\n") == 2
    assert any("python/train: 6/6 rows" in line for line in lines)
    assert corpora.source(tmp_path, "python", "train") == "full"
    ctx = DataContext(tmp_path, options={"train_form": "tokens"})
    train = get_task("sum-python").load("train", ctx)
    assert [ex.input for ex in train][:1] == ["def f0 ( x ) : return x + 0"]
    assert train[0].target == "Return x plus 0 ."
    assert len(get_task("sum-java").load("valid", ctx)) == 3  # the hub's validation split, as the paper
    java = get_task("trans-java-cs").load("train", DataContext(tmp_path))
    assert java[0].input == "public int a0() { return 0; }" and java[0].target == "public int A0() { return 0; }"
    assert not list(tmp_path.rglob("*.partial"))


def test_a_second_fetch_downloads_nothing(tmp_path):
    fetch_codexglue(tmp_path, load=Hub())
    again = Hub()
    report = fetch_codexglue(tmp_path, load=again).to_dict()
    assert report["ok"] and not again.calls
    assert {f["state"] for f in report["files"]} == {"present"}


def test_an_interrupted_fetch_keeps_what_it_finished_and_resumes(tmp_path):
    broken = Hub(fail_on=lambda dataset, config, split: config == "java" and split == "validation")
    report = fetch_codexglue(tmp_path, load=broken).to_dict()
    assert not report["ok"] and "ConnectionError" in report["error"] and "Fix:" in report["error"]
    assert (tmp_path / "codexglue_code2text_full" / "java" / "train.jsonl").is_file()
    assert not (tmp_path / "codexglue_code2text_full" / "java" / "valid.jsonl").exists()
    assert not list(tmp_path.rglob("*.partial"))
    resumed = Hub()
    assert fetch_codexglue(tmp_path, load=resumed).to_dict()["ok"]
    assert ("google/code_x_glue_ct_code_to_text", "java", "train") not in resumed.calls
    assert (CODE2TEXT, "java", "validation") in resumed.calls


def test_without_network_nothing_is_written_and_the_error_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    report = fetch_codexglue(tmp_path / "data", load=Hub(fail_on=lambda *a: True)).to_dict()
    assert not report["ok"] and report["files"] == []
    assert "HF_HUB_OFFLINE" in report["error"] and "huggingface.co" in report["error"]
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file()]


def test_existing_translation_files_are_left_as_they_are(tmp_path, data_dir):
    target = tmp_path / "codexglue_code2code_trans"
    shutil.copytree(data_dir / "codexglue_code2code_trans", target)
    before = (target / "train.java-cs.txt.java").read_bytes()
    hub = Hub()
    report = fetch_codexglue(tmp_path, load=hub).to_dict()
    assert report["ok"] and not [c for c in hub.calls if c[0] == CODE2CODE]
    assert (target / "train.java-cs.txt.java").read_bytes() == before


def test_the_api_names_unknown_datasets(tmp_path):
    from engine import api

    assert api.fetch_data("nope", str(tmp_path))["error"].startswith("unknown dataset 'nope'")


@pytest.mark.parametrize("split", ["train", "valid"])
def test_the_sample_is_used_where_no_full_set_was_fetched(data_dir, split):
    assert corpora.source(data_dir, "java", split) == "sample"


def test_the_data_page_says_which_source_each_task_reads(data_dir):
    from engine import api

    rows = {r["task"]: r for r in api.paper_data_sources(str(data_dir))}
    assert rows["sum-python"]["source"] == "CodeXGLUE code-to-text (public sample)"
    assert rows["sum-python"]["paper_rows"] == 251_820 and 0 < rows["sum-python"]["share"] < 0.05
    assert rows["trans-java-cs"]["share"] == 1.0
    assert rows["gen-python"]["paper_rows"] is None and rows["gen-python"]["share"] is None
    assert rows["gen-java"]["paper_test"].startswith("CoderEval Java")
