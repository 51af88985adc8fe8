"""Tests for engine.scoring.metrics.evaluate_modules: every registered metric written as a Hugging Face
`evaluate` module, loaded offline by folder path with `evaluate.load()`, gives exactly the values of
`engine.scoring.metrics.compute()`; options, `evaluate.combine()`, odd metric names, rewriting and an
unknown name."""
# pylint: disable=missing-function-docstring

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine.scoring import metrics
from engine.scoring.metrics import (
    CODE,
    TEXT,
    MetricError,
    MetricUnavailableError,
    available_metrics,
    compute,
    get_metric,
)
from engine.scoring.metrics.evaluate_modules import (
    class_name,
    folder_name,
    render_script,
    write_all,
    write_evaluate_module,
)

# Real pairs: Python code (lang="python") for the code metrics, summaries for the text metrics. Each set
# has an exact match, a whitespace-only difference, non-ASCII text and a blank prediction.
CODE_PREDS = [
    "def add(a, b):\n    return a + b\n",
    "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n",
    "def greet(name):\n    return f'héllo, {name} ✓'\n",
    "def f(x):\n    y = x * 2\n    return y\n",
    "",
]
CODE_REFS = [
    "def add(a, b):\n    return a + b\n",
    "def total(values):\n    result = 0\n    for v in values:\n        result = result + v\n    return result\n",
    "def greet(name):\n    return f'héllo, {name} ✓'",
    "def f(x):\n    # doubles x\n    return 2 * x\n",
    "def g():\n    pass\n",
]
TEXT_PREDS = [
    "Returns the number of elements in this list.",
    "gets the value of the key",
    "Creates a new instance of the parser with default options",
    "Calcule la moyenne des valeurs données.",
    "",
]
TEXT_REFS = [
    "Returns the number of elements in the list.",
    "Get the value associated with the given key.",
    "Construct a parser using the default options.",
    "Calcule la moyenne des valeurs.",
    "Closes the stream.",
]
PAIRS = {CODE: (CODE_PREDS, CODE_REFS, "python"), TEXT: (TEXT_PREDS, TEXT_REFS, None)}

# Every registered metric, on the kinds of output it applies to (a metric for both: once each).
CASES = [pytest.param(name, kind, id=f"{name}-{kind}") for kind in (CODE, TEXT) for name in available_metrics(kind)]


@pytest.fixture(name="hf_evaluate")
def fixture_hf_evaluate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """`evaluate`, offline, with every cache it writes (HF_HOME, module cache, metric cache) in tmp_path.

    evaluate reads its cache locations when first imported, so its config is patched as well; it adds
    the module cache to sys.path and imports `evaluate_modules` from there, so both are undone after
    the test (the next test's cache is another folder).
    """
    hf_home = tmp_path / "hf_home"
    for var, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_EVALUATE_OFFLINE": "1",
                       "HF_HOME": str(hf_home), "HF_MODULES_CACHE": str(hf_home / "modules"),
                       "HF_METRICS_CACHE": str(hf_home / "metrics"),
                       "HF_DATASETS_CACHE": str(hf_home / "datasets")}.items():
        monkeypatch.setenv(var, value)
    import evaluate

    monkeypatch.setattr(evaluate.config, "HF_CACHE_HOME", str(hf_home))
    monkeypatch.setattr(evaluate.config, "HF_MODULES_CACHE", hf_home / "modules")
    monkeypatch.setattr(evaluate.config, "HF_METRICS_CACHE", hf_home / "metrics")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield evaluate
    for module in [m for m in sys.modules if m == "evaluate_modules" or m.startswith("evaluate_modules.")]:
        del sys.modules[module]


def _load(hf_evaluate: ModuleType, folder: Path, tmp_path: Path) -> Any:
    module = hf_evaluate.load(str(folder), cache_dir=str(tmp_path / "hf_home" / "metrics"))
    # The copy evaluate imported lives in this test's module cache, not in the home directory.
    assert Path(inspect.getfile(type(module))).is_relative_to(tmp_path / "hf_home" / "modules")
    return module


def _expected(name: str, preds: list[str], refs: list[str], lang: str | None = None,
              options: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        result = compute([name], preds, refs, lang=lang, options={name: options} if options else None)[name]
    except MetricUnavailableError as exc:  # METEOR without WordNet: the only reason to skip
        pytest.skip(f"{name} unavailable here: {exc}")
    return {name: result["mean"], f"{name}_corpus": result["corpus"], f"{name}_per_sample": result["per_sample"],
            f"{name}_meta": result["meta"]}


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_loaded_module_equals_compute(hf_evaluate, tmp_path, name, kind):
    preds, refs, lang = PAIRS[kind]
    expected = _expected(name, preds, refs, lang=lang)
    folder = write_evaluate_module(name, tmp_path / "modules")
    assert folder == tmp_path / "modules" / name
    assert (folder / f"{name}.py").is_file()
    module = _load(hf_evaluate, folder, tmp_path)
    assert module.description.startswith(get_metric(name).description)
    if lang is None:
        got = module.compute(predictions=preds, references=refs)
    else:
        got = module.compute(predictions=preds, references=refs, lang=lang)
    assert got == expected
    assert len(got[f"{name}_per_sample"]) == len(preds)


@pytest.mark.parametrize(("name", "kind", "options"), [
    ("bleu", CODE, {"tokenize": "char", "lowercase": True}),
    ("chrf", TEXT, {"word_order": 2}),
    ("rouge_l", TEXT, {"use_stemmer": False}),
    ("codebleu", CODE, {"weights": [0.1, 0.2, 0.3, 0.4]}),
])
def test_options_pass_through(hf_evaluate, tmp_path, name, kind, options):
    preds, refs, lang = PAIRS[kind]
    expected = _expected(name, preds, refs, lang=lang, options=options)
    assert expected != _expected(name, preds, refs, lang=lang)  # the option changes something
    module = _load(hf_evaluate, write_evaluate_module(name, tmp_path / "modules"), tmp_path)
    assert module.compute(predictions=preds, references=refs, lang=lang, **options) == expected


def test_unknown_option_is_the_registry_error(hf_evaluate, tmp_path):
    module = _load(hf_evaluate, write_evaluate_module("rouge_l", tmp_path / "modules"), tmp_path)
    with pytest.raises(MetricError, match=r"no option\(s\) stemming \(accepted: use_stemmer\)"):
        module.compute(predictions=TEXT_PREDS, references=TEXT_REFS, stemming=True)


def test_missing_project_is_a_clear_error(hf_evaluate, tmp_path, monkeypatch):
    folder = write_evaluate_module("chrf", tmp_path / "modules")
    monkeypatch.setitem(sys.modules, "engine.scoring", None)  # as where the project is not installed
    with pytest.raises(ImportError, match=r"CodeTune Studio.s metric registry .*\(pip install -e "):
        _load(hf_evaluate, folder, tmp_path)


def test_combine_keeps_each_metric_keys(hf_evaluate, tmp_path):
    folders = write_all(tmp_path / "modules")
    combined = hf_evaluate.combine([_load(hf_evaluate, folders[name], tmp_path) for name in ("chrf", "rouge_l")])
    expected = _expected("chrf", TEXT_PREDS, TEXT_REFS) | _expected("rouge_l", TEXT_PREDS, TEXT_REFS)
    assert combined.compute(predictions=TEXT_PREDS, references=TEXT_REFS) == expected


def test_odd_metric_name_loads(hf_evaluate, tmp_path, monkeypatch):
    # A metric whose name is no identifier nor folder name ("/", ".", "+", upper case): here chrF++
    # registered under such a name, through the registry's public functions.
    odd = "chrF++/words.v2"
    real_get, real_compute = metrics.get_metric, metrics.compute

    def get_metric_with_odd(name: str) -> metrics.Metric:
        if name.strip().lower() == odd.lower():
            return dataclasses.replace(real_get("chrf"), name=odd, options=())
        return real_get(name)

    def compute_with_odd(names, predictions, references, lang=None, options=None):
        if list(names) == [odd]:
            assert options is None
            return {odd: real_compute(["chrf"], predictions, references, options={"chrf": {"word_order": 2}})["chrf"]}
        return real_compute(names, predictions, references, lang=lang, options=options)

    monkeypatch.setattr(metrics, "get_metric", get_metric_with_odd)
    monkeypatch.setattr(metrics, "compute", compute_with_odd)
    folder = write_evaluate_module(odd, tmp_path / "modules")
    assert folder.name == folder_name(odd)
    assert folder.name.startswith("chrf_words_v2_") and folder.name.isidentifier()
    module = _load(hf_evaluate, folder, tmp_path)
    expected = real_compute(["chrf"], TEXT_PREDS, TEXT_REFS, options={"chrf": {"word_order": 2}})["chrf"]
    assert module.compute(predictions=TEXT_PREDS, references=TEXT_REFS) == {
        odd: expected["mean"], f"{odd}_corpus": expected["corpus"], f"{odd}_per_sample": expected["per_sample"],
        f"{odd}_meta": expected["meta"]}


def test_every_metric_is_tested():
    assert sorted({case.values[0] for case in CASES}) == available_metrics()


def test_folder_and_class_names():
    for name in available_metrics():  # the registered names are plain: used as they are
        assert folder_name(name) == name
    assert class_name("exact_match_strict") == "ExactMatchStrict"
    assert class_name("rouge_l") == "RougeL"
    odd = ["chrf++", "chrf--", "rouge-L", "pass@1", "1gram", "bleu.v2", "a/b", "", "  "]
    folders = [folder_name(name) for name in odd]
    assert len(set(folders)) == len(odd)  # distinct names never share a folder
    for folder in folders:
        assert folder.isidentifier() and folder == folder.lower() and folder.isascii()
        assert class_name(folder).isidentifier()
    assert folder_name("1gram").startswith("metric_1gram_")


def test_write_all_is_idempotent(tmp_path):
    first = write_all(tmp_path)
    assert sorted(first) == available_metrics()
    scripts = {name: folder / f"{folder.name}.py" for name, folder in first.items()}
    before = {name: (path.read_text(encoding="utf-8"), path.stat().st_mtime_ns) for name, path in scripts.items()}
    for name, text in before.items():
        assert text[0] == render_script(name)
        assert scripts[name].stat().st_mode & 0o777 == 0o644
        compile(text[0], str(scripts[name]), "exec")
    assert write_all(tmp_path) == first
    assert {name: (path.read_text(encoding="utf-8"), path.stat().st_mtime_ns)
            for name, path in scripts.items()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(folder.name for folder in first.values())
    # A changed or damaged script is rewritten.
    scripts["bleu"].write_text("broken", encoding="utf-8")
    assert write_evaluate_module("BLEU", tmp_path) == first["bleu"]  # looked up as get_metric() does
    assert scripts["bleu"].read_text(encoding="utf-8") == render_script("bleu")
    assert not list(tmp_path.rglob("*.tmp"))


def test_unknown_metric_name(tmp_path):
    with pytest.raises(MetricError, match="unknown metric 'no_such_metric'; known metrics: ") as err:
        write_evaluate_module("no_such_metric", tmp_path / "modules")
    for name in available_metrics():
        assert name in str(err.value)
    assert not (tmp_path / "modules").exists()
