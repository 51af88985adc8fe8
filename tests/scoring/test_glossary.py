"""The glossary (engine.glossary): metric scales, execution outcomes, analyser categories and
measures, pylint and checkstyle rules, and the plain reading of an analyser's failure."""

from __future__ import annotations

from typing import get_args

import pytest

from engine import api, glossary
from engine.scoring.quality.api import analysers
from engine.scoring.quality.base import UNAVAILABLE_PREFIX, failure_kind
from engine.scoring.sandbox.model import Status

CHECKSTYLE_PARSE = (
    "checkstyle cannot parse this file at line 3: unexpected token: { "
    "(a syntax error, or syntax newer than its Java grammar)"
)


@pytest.fixture(scope="module", name="words")
def words_fixture() -> glossary.Glossary:
    """The glossary, built once for the module."""
    return api.glossary()


def test_a_pylint_id_reads_pylints_own_message(words):
    from pylint.lint import PyLinter

    linter = PyLinter()
    linter.load_default_plugins()
    expected = linter.msgs_store.get_message_definitions("C0116")[0]
    term = words.lookup("C0116")
    assert term is not None and term.kind == "rule" and term.tool == "pylint"
    assert expected.symbol in term.meaning and expected.msg in term.meaning
    assert words.help("W0612", "pylint").startswith("unused-variable")
    assert words.lookup("missing-function-docstring", "pylint").term == "missing-function-docstring"


def test_metrics_carry_their_scale_and_direction(words):
    assert words.help("pass@1").endswith("[0, 1], higher is better")
    compile_error = words.help("exec:compile_error")
    assert "did not compile" in compile_error and "lower is better" in compile_error
    assert "whole corpus" in words.help("bleu:corpus")
    # a name no run reported yet is still described (pass@k, quality aggregates)
    assert "10 sample(s)" in words.help("pass@10")
    assert "lower is better" in words.help("quality:pylint:C_per_sample")
    assert words.lookup("no-such-thing") is None and words.help("no-such-thing", default="?") == "?"


def test_every_execution_outcome_is_explained():
    assert set(glossary.OUTCOMES) == set(get_args(Status))


def test_every_analyser_category_and_measure_is_in_the_glossary(words):
    for name, analyser in analysers().items():
        for category, meaning in analyser.categories.items():
            assert words.help(category, name) == meaning, (name, category)
        for measure, meaning in analyser.measures.items():
            assert words.help(measure, name) == meaning, (name, measure)
    # analysers that report measures say what each one means
    assert {"ccn", "nloc", "token_count"} <= set(analysers()["lizard"].measures)
    assert "maintainability_index" in analysers()["radon"].measures


def test_checkstyle_rules_are_shared_by_both_configurations(words):
    sun, google = words.help("MagicNumber", "checkstyle-sun"), words.help("MagicNumber", "checkstyle-google")
    assert sun == google and "numeric literal" in sun
    assert "Javadoc" in words.help("javadoc", "checkstyle-google")  # a category (check package)


def test_search_finds_terms_by_meaning(words):
    hits = words.search("docstring")
    assert any(t.term == "C0116" for t in hits)
    assert all(t.kind == "rule" for t in words.search("docstring", kinds=("rule",)))
    assert words.search("compile", kinds=("outcome",))[0].term == "compile_error"


@pytest.mark.parametrize(
    "status,detail,kind",
    [
        ("failed", f"{UNAVAILABLE_PREFIX} checkstyle not found ('checkstyle' on PATH)", "unavailable"),
        ("failed", CHECKSTYLE_PARSE, "unparseable"),
        ("failed", "radon cannot parse the code: invalid syntax (line 2)", "unparseable"),
        ("failed", "pylint could not analyse the file: F0010 error while code parsing", "unparseable"),
        ("failed", "checkstyle timed out after 60 s on a batch of 8 files", "timeout"),
        ("failed", "lizard crashed: ValueError: boom", "crash"),
        ("failed", "javac returned 3 results for 4 samples (analyser bug)", "other"),
        ("skipped", "empty code", "skipped"),
    ],
)
def test_failure_kind_reads_the_analysers_own_detail(status, detail, kind):
    assert failure_kind(status, detail) == kind


def test_a_parse_failure_is_not_blamed_on_the_setup():
    text = glossary.explain_failure("checkstyle-sun", "failed", CHECKSTYLE_PARSE, 3)
    assert text.startswith("checkstyle-sun failed on 3 sample(s): the tool could not parse the generated code")
    assert "unexpected token" in text and "make setup" not in text
    missing = glossary.explain_failure("mcs", "failed", f"{UNAVAILABLE_PREFIX} mcs not found", 2)
    assert "not installed" in missing and "make setup" in missing and UNAVAILABLE_PREFIX not in missing
