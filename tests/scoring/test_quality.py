"""Tests of engine.scoring.quality: each analyser on code with known issues, line mapping of wrapped
fragments, complexity numbers against lizard/radon called directly, pylint's per-file score against
pylint's own, and every way an analysis can fail being recorded as failed/skipped with a reason.

Java and C# tests need javac/checkstyle/mcs (installed by `make system`); they skip, naming the
missing program, when it is absent. Each language's samples are analysed once per module (one batch,
as in production) and the tests assert on that shared batch.
"""

# Test functions document themselves by name, and pytest fixtures are parameters by design.
# pylint: disable=missing-function-docstring,redefined-outer-name

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow as pa
import pytest

from engine.registry import PLUGINS_ENV
from engine.runs import rundir as runs
from engine.scoring import quality
from engine.scoring.quality import (
    QualityConfig,
    Sample,
    ToolResult,
    analyse,
    analysers,
    available_analysers,
    default_analysers,
)
from engine.scoring.quality.builtin import pylint_analyser
from engine.scoring.quality.builtin.pylint_analyser import file_score, pylint_args
from engine.scoring.quality.prepare import csharp_unit, java_unit, strip_comments_and_strings

# ---------------------------------------------------------------------------------------------
# sample code with known issues

PY_UNUSED = textwrap.dedent(
    '''\
    """A module."""


    def add(a, b):
        """Add."""
        unused = 3
        return a + b
    '''
)  # W0612 unused-variable on line 6

PY_SCORED = textwrap.dedent(
    '''\
    """Module with a few statements and two messages."""
    import os


    def total(values):
        """Sum."""
        result = 0
        for value in values:
            result += value
        return result


    def ratio(a, b):
        """Divide."""
        x = 1
        return a / b
    '''
)  # W0611 unused-import (line 2), W0612 unused-variable (line 15)

PY_BROKEN = "def f(:\n    return 1\n"

PY_COMPLEX = textwrap.dedent(
    """\
    class Box:
        def pick(self, x):
            if x > 0:
                return 1
            elif x < 0:
                return -1
            return 0

        def outer(self, items):
            def inner(y):
                return y if y else 0
            return [inner(i) for i in items if i]


    def search(a, b, c=None):
        for i in a:
            if i and b:
                return i
            while c:
                c -= 1
        return None
    """
)

JAVA_RAW = textwrap.dedent(
    """\
    import java.util.*;

    public class Solution {
        public List getIt(int BadName) {
            List l = new ArrayList();
            l.add(BadName);
            return l;
        }
    }
    """
)  # rawtypes at 4 and 5, unchecked at 6; ParameterName (checkstyle) at 4

JAVA_SECOND_SOLUTION = textwrap.dedent(
    """\
    public class Solution {
        public int twice(int x) {
            return 2 * x;
        }
    }
    """
)

JAVA_FRAGMENT = textwrap.dedent(
    """\
    import java.util.ArrayList;
    import java.util.List;

    public static int count(int n) {
        List items = new ArrayList();
        int BadName = n;
        return items.size() + BadName;
    }
    """
)  # wrapped after line 2; rawtypes at 5, LocalVariableName at 6 (sample lines)

JAVA_BROKEN = "public class Broken {\n    void f( {\n    }\n"

JAVA_HELPER_FIRST = textwrap.dedent(
    """\
    class Helper {
        static int one() { return 1; }
    }

    public class Main {
        public static void main(String[] args) {
            System.out.println(Helper.one());
        }
    }
    """
)

CS_UNUSED = textwrap.dedent(
    """\
    using System;
    using System.Linq;
    using System.Collections.Generic;

    public class Solution {
        public int F(List<int> xs) {
            int unused;
            int assigned = 3;
            return xs.Where(x => x > 0).Sum();
        }
    }
    """
)  # CS0168 at 7, CS0219 at 8

CS_FRAGMENT = textwrap.dedent(
    """\
    using System;

    public int Add(int a, int b) {
        int unused;
        return a + b;
    }
    """
)  # wrapped after line 1; CS0168 at 4

CS_BROKEN = "class X {\n    void F( {\n}\n"


_RANDOM_BYTES = random.Random(7).randbytes(4000)


def _need(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (make system installs it)")


def _by(results: list[ToolResult]) -> dict[tuple[str, str], ToolResult]:
    return {(r.key, r.tool): r for r in results}


def _rules(result: ToolResult) -> set[str]:
    return {f.rule_id for f in result.findings}


# ---------------------------------------------------------------------------------------------
# Python


@pytest.fixture(scope="module")
def python_results() -> dict[tuple[str, str], ToolResult]:
    samples = [
        Sample("unused", PY_UNUSED, "python"),
        Sample("broken", PY_BROKEN, "python"),
        Sample("scored", PY_SCORED, "python"),
        Sample("complex", PY_COMPLEX, "python"),
    ]
    return _by(analyse(samples))


def test_pylint_reports_unused_variable_with_line_category_and_severity(python_results):
    result = python_results["unused", "pylint"]
    assert result.status == "ok"
    unused = [f for f in result.findings if f.rule_id == "W0612"]
    assert len(unused) == 1
    assert (unused[0].line, unused[0].category, unused[0].severity) == (6, "W", "warning")
    assert "unused-variable" in unused[0].message
    assert result.measures["count_W"] == 1
    assert result.measures["findings"] == len(result.findings)


def test_pylint_syntax_error_is_a_finding_and_does_not_break_the_batch(python_results):
    broken = python_results["broken", "pylint"]
    assert broken.status == "ok"
    assert [f.rule_id for f in broken.findings] == ["E0001"]
    assert broken.findings[0].severity == "error" and broken.findings[0].line == 1
    assert "pylint_score" not in broken.measures and "no score" in broken.detail
    # The good samples of the same batch are analysed exactly as they are on their own.
    alone = analyse([Sample("unused", PY_UNUSED, "python")], analysers=["pylint"])[0]
    assert python_results["unused", "pylint"] == alone
    # radon cannot parse it: that is the tool giving up, recorded with the parser's reason.
    radon = python_results["broken", "radon"]
    assert radon.status == "failed" and "cannot parse" in radon.detail and not radon.measures
    assert python_results["broken", "lizard"].status == "ok"


def test_pylint_per_file_score_matches_pylint_run_on_that_file_alone(python_results, tmp_path):
    from pylint.lint import Run
    from pylint.reporters import JSON2Reporter

    result = python_results["scored", "pylint"]
    assert _rules(result) == {"W0611", "W0612"}
    path = tmp_path / "cts_sample_00002.py"
    path.write_text(PY_SCORED, encoding="utf-8")
    rcfile = tmp_path / "pylintrc"
    rcfile.write_text("[MAIN]\n", encoding="utf-8")
    run = Run(pylint_args([str(path)], str(rcfile)), reporter=JSON2Reporter(io.StringIO()), exit=False)
    own = run.linter.stats.global_note
    assert 0 < own < 10
    assert result.measures["pylint_score"] == pytest.approx(own, abs=1e-9)
    assert result.measures["statements"] == run.linter.stats.statement


def test_file_score_formula():
    assert file_score({"statement": 10, "error": 1, "warning": 2}) == pytest.approx(10 - 7 / 10 * 10)
    assert file_score({"statement": 2, "error": 3}) == 0.0
    assert file_score({"statement": 5, "fatal": 1}) == 0.0
    assert file_score({"statement": 0}) is None


def test_radon_numbers_match_radon_called_directly(python_results):
    from radon.metrics import mi_visit
    from radon.visitors import ComplexityVisitor

    measures = python_results["complex", "radon"].measures
    visitor = ComplexityVisitor.from_code(PY_COMPLEX)
    blocks = list(visitor.functions) + [m for cls in visitor.classes for m in cls.methods]
    blocks += [c for b in list(blocks) for c in b.closures]
    expected = sorted(b.complexity for b in blocks)
    # Hand-checked: inner (ternary) 2, pick (if/elif) 3, outer (comprehension for + if) 3,
    # search (for, if, and, while) 5.
    assert expected == [2, 3, 3, 5]
    assert measures["cc_blocks"] == 4
    assert measures["cc_total"] == 13
    assert measures["cc_max"] == 5 and measures["cc_mean"] == pytest.approx(13 / 4)
    assert measures["maintainability_index"] == pytest.approx(mi_visit(PY_COMPLEX, True))
    assert measures["mi_rank"] == 1.0


def test_lizard_numbers_match_lizard_called_directly(python_results):
    import lizard

    info = lizard.analyze_file.analyze_source_code("x.py", PY_COMPLEX)
    measures = python_results["complex", "lizard"].measures
    ccn = [f.cyclomatic_complexity for f in info.function_list]
    assert measures["function_count"] == len(info.function_list) == 4
    assert measures["ccn"] == sum(ccn) and measures["ccn_max"] == max(ccn) == 5
    assert measures["nloc"] == info.nloc and measures["token_count"] == info.token_count
    assert measures["parameter_count"] == sum(f.parameter_count for f in info.function_list) == 8


# ---------------------------------------------------------------------------------------------
# Java


@pytest.fixture(scope="module")
def java_results() -> dict[tuple[str, str], ToolResult]:
    for program in ("java", "checkstyle"):
        _need(program)
    samples = [
        Sample("raw", JAVA_RAW, "java"),
        Sample("fragment", JAVA_FRAGMENT, "java"),
        Sample("broken", JAVA_BROKEN, "java"),
        Sample("second", JAVA_SECOND_SOLUTION, "java"),
        Sample("helper", JAVA_HELPER_FIRST, "java"),
        Sample(
            "uses", "public class Uses {\n    int f() {\n        return Helper.one();\n    }\n}\n", "java"
        ),
    ]
    return _by(analyse(samples))


def test_default_java_analysers_all_ran(java_results):
    assert {tool for _, tool in java_results} == set(default_analysers("java"))
    assert {"checkstyle-sun", "checkstyle-google", "javac", "lizard"} <= set(default_analysers("java"))


def test_javac_reports_rawtypes_and_unchecked_lines(java_results):
    result = java_results["raw", "javac"]
    assert result.status == "ok" and result.measures["compiled"] == 1.0
    lines = sorted((f.rule_id, f.line) for f in result.findings)
    assert lines == [("rawtypes", 4), ("rawtypes", 5), ("rawtypes", 5), ("unchecked", 6)]
    assert all(f.category == "lint" and f.severity == "warning" for f in result.findings)


def test_javac_compile_error_is_a_finding(java_results):
    result = java_results["broken", "javac"]
    assert result.status == "ok" and result.measures["compiled"] == 0.0
    assert result.findings and all(f.severity == "error" for f in result.findings)
    assert result.findings[0].line == 2 and result.findings[0].category == "compile-error"


def test_public_class_files_are_named_after_the_class(java_results):
    # Two samples declare `public class Solution` in one batch; a non-public class precedes `Main`.
    for key in ("second", "helper"):
        result = java_results[key, "javac"]
        assert result.status == "ok" and result.measures["compiled"] == 1.0, result
        assert not [f for f in result.findings if f.severity == "error"]


def test_samples_of_one_javac_jvm_do_not_see_each_other(java_results):
    # "helper" (compiled just before, in the same JVM) declares Helper; "uses" must not find it.
    result = java_results["uses", "javac"]
    assert result.status == "ok" and result.measures["compiled"] == 0.0
    assert [(f.rule_id, f.line) for f in result.findings] == [("err.cant.resolve.location", 3)]


def test_checkstyle_sun_and_google_report_naming_and_javadoc(java_results):
    sun = java_results["raw", "checkstyle-sun"]
    google = java_results["raw", "checkstyle-google"]
    assert sun.status == google.status == "ok"
    naming = [f for f in sun.findings if f.rule_id == "ParameterName"]
    assert naming and naming[0].line == 4 and naming[0].category == "naming" and naming[0].severity == "error"
    assert "MissingJavadocMethod" in _rules(sun)
    assert any(f.rule_id == "ParameterName" and f.severity == "warning" for f in google.findings)
    assert sun.measures["findings"] == len(sun.findings) == sun.measures["findings_error"]


def test_checkstyle_parse_failure_is_failed_with_the_line(java_results):
    for tool in ("checkstyle-sun", "checkstyle-google"):
        result = java_results["broken", tool]
        assert result.status == "failed" and not result.findings and not result.measures
        assert "cannot parse" in result.detail and "line 2" in result.detail
        assert java_results["raw", tool].status == "ok"  # same batch, unaffected


def test_wrapped_java_fragment_maps_lines_back(java_results):
    javac = java_results["fragment", "javac"]
    assert javac.status == "ok" and javac.measures["compiled"] == 1.0
    assert "wrapped" in javac.detail
    assert [(f.rule_id, f.line) for f in javac.findings] == [("rawtypes", 5), ("rawtypes", 5)]
    sun = java_results["fragment", "checkstyle-sun"]
    assert ("LocalVariableName", 6) in {(f.rule_id, f.line) for f in sun.findings}
    assert all(f.line is None or 1 <= f.line <= 8 for f in sun.findings)
    # Nothing about the synthetic class survives (its javadoc, its name, its missing constructor).
    assert not any("Wrapper" in f.message for r in java_results.values() for f in r.findings)
    lizard = java_results["fragment", "lizard"]
    assert lizard.measures["function_count"] == 1 and lizard.measures["parameter_count"] == 1


def test_lizard_java_matches_lizard_called_directly(java_results):
    import lizard

    info = lizard.analyze_file.analyze_source_code("x.java", JAVA_RAW)
    measures = java_results["raw", "lizard"].measures
    assert measures["ccn"] == sum(f.cyclomatic_complexity for f in info.function_list)
    assert measures["nloc"] == info.nloc and measures["token_count"] == info.token_count


# ---------------------------------------------------------------------------------------------
# C#


@pytest.fixture(scope="module")
def csharp_results() -> dict[tuple[str, str], ToolResult]:
    _need("mcs")
    samples = [
        Sample("unused", CS_UNUSED, "csharp"),
        Sample("fragment", CS_FRAGMENT, "csharp"),
        Sample("broken", CS_BROKEN, "csharp"),
        Sample("ctor", "public Counter(int start) {\n    int unused;\n}\n", "csharp"),
    ]
    return _by(analyse(samples))


def test_mcs_reports_unused_variable_warnings(csharp_results):
    result = csharp_results["unused", "mcs"]
    assert result.status == "ok" and result.measures["compiled"] == 1.0
    assert sorted((f.rule_id, f.line) for f in result.findings) == [("CS0168", 7), ("CS0219", 8)]
    assert all(f.severity == "warning" and f.category == "compiler-warning" for f in result.findings)


def test_mcs_wrapped_fragment_and_syntax_error(csharp_results):
    fragment = csharp_results["fragment", "mcs"]
    assert fragment.status == "ok" and "wrapped" in fragment.detail
    assert [(f.rule_id, f.line) for f in fragment.findings] == [("CS0168", 4)]
    broken = csharp_results["broken", "mcs"]
    assert broken.status == "ok" and broken.measures["compiled"] == 0.0
    assert broken.findings[0].rule_id == "CS1525" and broken.findings[0].line == 2
    assert csharp_results["broken", "lizard"].status == "ok"


def test_constructor_fragment_is_wrapped_in_its_own_class(csharp_results):
    # Wrapped in `class Wrapper` it would be an error (CS1520: method must have a return type).
    ctor = csharp_results["ctor", "mcs"]
    assert ctor.status == "ok" and "class Counter" in ctor.detail
    assert [(f.rule_id, f.line) for f in ctor.findings] == [("CS0168", 2)]


# ---------------------------------------------------------------------------------------------
# failures, bad input, API


def test_missing_tool_is_recorded_as_failed(tmp_path):
    missing = str(tmp_path / "no-such-program")
    config = QualityConfig(executables={"checkstyle": missing, "java": missing, "mcs": missing})
    samples = [Sample("j", JAVA_RAW, "java"), Sample("c", CS_UNUSED, "csharp")]
    results = analyse(samples, config=config)
    by = _by(results)
    for key, tool in [("j", "checkstyle-sun"), ("j", "checkstyle-google"), ("j", "javac"), ("c", "mcs")]:
        result = by[key, tool]
        assert result.status == "failed" and missing in result.detail and not result.findings
    assert by["j", "lizard"].status == "ok"  # in-process tools still work
    assert {i.name: i.available for i in available_analysers(config)}["mcs"] is False


def test_analyser_crash_is_recorded_as_failed(monkeypatch):
    def explode(self, samples, workdir, config):
        raise RuntimeError("boom")

    monkeypatch.setattr(pylint_analyser.PylintAnalyser, "analyse_batch", explode)
    results = analyse(
        [Sample("a", PY_UNUSED, "python"), Sample("b", PY_SCORED, "python")], analysers=["pylint", "lizard"]
    )
    assert [(r.key, r.tool, r.status) for r in results] == [
        ("a", "pylint", "failed"),
        ("a", "lizard", "ok"),
        ("b", "pylint", "failed"),
        ("b", "lizard", "ok"),
    ]
    assert "boom" in results[0].detail


def _fake_program(path: Path, body: str) -> str:
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_tool_timeout_is_failed(tmp_path):
    slow = _fake_program(tmp_path / "checkstyle", "import time\ntime.sleep(30)\n")
    config = QualityConfig(executables={"checkstyle": slow}, timeout_s=1)
    start = time.monotonic()
    result = analyse([Sample("j", JAVA_RAW, "java")], analysers=["checkstyle-sun"], config=config)[0]
    assert time.monotonic() - start < 10
    assert result.status == "failed" and "timed out" in result.detail


def test_javac_jvm_death_fails_only_that_sample(tmp_path):
    # A stand-in for `java` that speaks the helper's protocol and dies on a file containing CRASH.
    fake = _fake_program(
        tmp_path / "java",
        textwrap.dedent(
            """\
            import sys
            files = [a for a in sys.argv[1:] if a.endswith(".java") and "BatchJavac" not in a]
            for i, name in enumerate(files):
                print(f"S\\t{i}", flush=True)
                if "CRASH" in open(name).read():
                    sys.exit(134)
                print(f"E\\t{i}\\ttrue\\t", flush=True)
            """
        ),
    )
    samples = [Sample(k, f"class C {{ /* {k} */ }}\n", "java") for k in ("ok1", "CRASH", "ok2")]
    results = analyse(samples, analysers=["javac"], config=QualityConfig(executables={"java": fake}))
    assert [r.status for r in results] == ["ok", "failed", "ok"]
    assert "died" in results[1].detail and "134" in results[1].detail


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "empty"),
        ("   \n\t\n", "empty"),
        ("def f():\x00 pass\n", "binary"),
        (_RANDOM_BYTES.decode("latin-1"), "binary"),
        (_RANDOM_BYTES.decode("latin-1").replace("\x00", ""), "control characters"),
        ("x = 1\n" * 50_000, "too large"),
        ("ok = '\ud800'\n", "Unicode"),
    ],
)
def test_unanalysable_input_is_skipped_with_a_reason(code, reason):
    results = analyse(
        [Sample("bad", code, "python"), Sample("good", PY_UNUSED, "python")], analysers=["pylint", "lizard"]
    )
    by = _by(results)
    for tool in ("pylint", "lizard"):
        assert by["bad", tool].status == "skipped" and reason in by["bad", tool].detail
        assert by["good", tool].status == "ok"


def test_garbage_text_gets_a_result_not_a_crash():
    rng = random.Random(3)
    garbage = "".join(rng.choice("{}()[];:=<>!&|^%$#@ \n\tabcXYZ0123'\"\\") for _ in range(3000))
    samples = [Sample(f"g-{lang}", garbage, lang) for lang in ("python", "java", "csharp")]
    tools = ["pylint", "radon", "lizard"] + [
        t
        for t in ("javac", "mcs", "checkstyle-sun")
        if shutil.which({"javac": "java", "mcs": "mcs", "checkstyle-sun": "checkstyle"}[t])
    ]
    for result in analyse(samples, analysers=tools):
        assert result.status in {"ok", "failed"}
        assert result.status == "ok" or result.detail


def test_bad_requests_raise():
    with pytest.raises(ValueError, match="unknown analyser"):
        analyse([Sample("a", "x = 1\n", "python")], analysers=["nope"])
    with pytest.raises(ValueError, match="unsupported language"):
        analyse([Sample("a", "x = 1\n", "cobol")])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        default_analysers("cobol")


def test_results_are_ordered_by_sample_then_tool_and_progress_counts_up():
    calls = []
    samples = [Sample("b", PY_UNUSED, "python"), Sample("a", "", "python"), Sample("b", PY_SCORED, "python")]
    results = analyse(
        samples, analysers=["lizard", "radon", "checkstyle-sun"], progress=lambda *a: calls.append(a)
    )
    assert [(r.key, r.tool) for r in results] == [
        ("b", "lizard"),
        ("b", "radon"),
        ("a", "lizard"),
        ("a", "radon"),
        ("b", "lizard"),
        ("b", "radon"),
    ]
    assert results[2].status == "skipped"
    assert [done for _, done, _ in calls] == sorted(done for _, done, _ in calls)
    assert calls[-1][1:] == (6, 6)


def test_rows_fit_the_run_directory_schemas():
    result = analyse([Sample("a", PY_UNUSED, "python"), Sample("e", "", "python")], analysers=["pylint"])
    key = {"run_id": "r1", "task": "generation-python", "sample_id": "x", "sample_index": 0}
    findings = [{**key, **row} for r in result for row in r.finding_rows()]
    quality = [{**key, **row} for r in result for row in r.quality_rows()]
    assert pa.Table.from_pylist(findings, schema=runs.FINDINGS_SCHEMA).num_rows == len(result[0].findings)
    table = pa.Table.from_pylist(quality, schema=runs.QUALITY_SCHEMA)
    assert set(findings[0]) == set(runs.FINDINGS_SCHEMA.names)
    assert set(quality[0]) == set(runs.QUALITY_SCHEMA.names)
    skipped_rows = [row for row in table.to_pylist() if row["status"] == "skipped"]
    assert len(skipped_rows) == 1 and skipped_rows[0]["measure"] is None and skipped_rows[0]["detail"]


def test_registry_and_analyser_listing():
    names = set(analysers())
    assert {"pylint", "radon", "lizard", "checkstyle-sun", "checkstyle-google", "javac", "mcs"} <= names
    assert default_analysers("python") == ["lizard", "pylint", "radon"]
    assert default_analysers("csharp") == ["lizard", "mcs"]
    infos = {info.name: info for info in available_analysers()}
    assert set(infos) == names and infos["pylint"].available
    assert all(info.detail for info in infos.values())


def test_registry_is_built_once_from_its_module_list():
    assert analysers()["pylint"] is analysers()["pylint"]  # one instance, not one per call
    assert analysers() is not analysers()  # callers get a copy of the mapping
    modules = {type(analyser).__module__ for analyser in analysers().values()}
    assert modules == set(quality.ANALYSER_MODULES)
    assert callable(quality.analysers)  # the function, not shadowed by a subpackage


def test_every_analyser_explains_its_finding_categories(java_results):
    infos = {info.name: info for info in available_analysers()}
    assert set(infos["pylint"].categories) == {"C", "R", "W", "E", "F", "I"}
    assert {"compile-error", "lint"} <= set(infos["javac"].categories)
    assert {"compile-error", "compiler-warning"} == set(infos["mcs"].categories)
    assert {"naming", "javadoc", "whitespace", "misc"} <= set(infos["checkstyle-sun"].categories)
    assert infos["radon"].categories == {} and infos["lizard"].categories == {}
    assert all(isinstance(text, str) and text for info in infos.values() for text in info.categories.values())
    # every category a finding carries is explained by its analyser
    python = analyse([Sample("a", PY_UNUSED, "python"), Sample("b", PY_SCORED, "python")])
    for result in [*python, *java_results.values()]:
        for finding in result.findings:
            assert finding.category in infos[finding.tool].categories, (finding.tool, finding.category)


def _plugin(tmp_path, monkeypatch, name, source):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(PLUGINS_ENV, name)


def test_plugin_analyser_is_registered_and_runs(tmp_path, monkeypatch):
    _plugin(tmp_path, monkeypatch, "cts_test_quality_plugin", """\
        from engine.scoring.quality import Analyser
        from engine.scoring.quality.base import ok

        class CharCount(Analyser):
            name = "char_count"
            languages = ("python", "csharp")
            default_for = ("csharp",)
            description = "characters per sample"

            def analyse_batch(self, samples, workdir, config):
                return [ok(s, self.name, measures={"chars": float(len(s.code))}) for s in samples]

        ANALYSERS = (CharCount,)
        """)
    assert "char_count" in analysers()
    assert default_analysers("csharp") == ["char_count", "lizard", "mcs"]
    results = analyse([Sample("p", "x = 1\n", "python"), Sample("j", JAVA_RAW, "java")], analysers=["char_count"])
    assert [(r.key, r.tool, r.measures) for r in results] == [("p", "char_count", {"chars": 6.0})]
    monkeypatch.delenv(PLUGINS_ENV)
    assert "char_count" not in analysers()
    with pytest.raises(ValueError, match="unknown analyser"):
        analyse([Sample("p", "x = 1\n", "python")], analysers=["char_count"])


def test_duplicate_analyser_name_is_an_error_naming_it(tmp_path, monkeypatch):
    _plugin(tmp_path, monkeypatch, "cts_test_quality_duplicate", """\
        from engine.scoring.quality.builtin.radon_analyser import RadonAnalyser

        class MyRadon(RadonAnalyser):
            pass

        ANALYSERS = (MyRadon,)
        """)
    with pytest.raises(RuntimeError, match=r"analyser 'radon' is registered twice.*cts_test_quality_duplicate"):
        analysers()
    monkeypatch.delenv(PLUGINS_ENV)
    assert "radon" in analysers()


def test_plugin_analysers_must_be_concrete_analyser_classes(tmp_path, monkeypatch):
    _plugin(tmp_path, monkeypatch, "cts_test_quality_bad_entry", "ANALYSERS = (object,)\n")
    with pytest.raises(TypeError, match="concrete Analyser subclasses"):
        analysers()
    _plugin(tmp_path, monkeypatch, "cts_test_quality_bad_language", """\
        from engine.scoring.quality.builtin.lizard_analyser import LizardAnalyser

        class Cobol(LizardAnalyser):
            name = "cobol-lint"
            languages = ("cobol",)

        ANALYSERS = (Cobol,)
        """)
    with pytest.raises(TypeError, match=r"cobol-lint.*unsupported language"):
        default_analysers("python")


def test_unimportable_plugin_is_an_import_error_naming_codetune_plugins(monkeypatch):
    monkeypatch.setenv(PLUGINS_ENV, "cts_test_quality_missing_plugin")
    with pytest.raises(ImportError, match=r"cts_test_quality_missing_plugin.*CODETUNE_PLUGINS"):
        analyse([Sample("a", "x = 1\n", "python")])


def test_importing_the_package_imports_no_tool():
    code = (
        "import sys, engine.scoring.quality as q; q.default_analysers('java'); q.available_analysers(); "
        "print(sorted(m for m in ('pylint', 'radon', 'lizard', 'astroid') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# fragment handling (pure functions)


def test_java_unit_naming_and_wrapping():
    assert java_unit(JAVA_HELPER_FIRST).filename == "Main.java"
    assert java_unit("// a class comment\nclass A {}\n").filename == "A.java"
    assert java_unit("public record Point(int x, int y) {}\n").filename == "Point.java"
    ctor = java_unit("@Deprecated\npublic Point(int x) throws Exception { this.x = x; }\n")
    assert ctor.wrapped and ctor.wrapper == "Point" and ctor.filename == "Point.java"
    assert not java_unit("if (x) { y(); }\n").text.startswith("class if")
    method = java_unit('/* class Fake { */\nint f(Record record) { return "class X {".length(); }\n')
    assert method.wrapped and method.filename == "Wrapper.java"
    assert method.text.splitlines()[0] == "class Wrapper {"
    assert [method.map_line(n) for n in (1, 2, 3, 4)] == [(1, True), (1, False), (2, False), (2, True)]


def test_csharp_unit_keeps_namespaces_and_wraps_methods():
    assert not csharp_unit("namespace N {\n  class A {}\n}\n").wrapped
    unit = csharp_unit(CS_FRAGMENT)
    assert unit.wrapped and unit.text.splitlines()[1] == "class Wrapper {"
    assert unit.map_line(5) == (4, False)


def test_strip_comments_and_strings_keeps_lines():
    code = 'a = "{ // }"; /* {\n } */ b = \'{\'; c = @"x ""{"" y";\nd = """\n{\n""";\n'
    stripped = strip_comments_and_strings(code)
    assert stripped.count("\n") == code.count("\n")
    assert "{" not in stripped and "}" not in stripped


# ---------------------------------------------------------------------------------------------
# slow: real data, the batch against per-file runs


def _data_dir() -> Path:
    env = os.environ.get("CODETUNE_DATA_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"data directory {path} not found")
    return path


@pytest.mark.slow
def test_pylint_batch_equals_one_process_per_file():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import bench_pylint

    codes = bench_pylint.load_humaneval(_data_dir(), limit=25)
    _, results = bench_pylint.run_batch(codes)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _, reports = bench_pylint.run_per_file(codes, Path(tmp))
    diff = bench_pylint.compare(results, reports)
    assert diff == {"finding_mismatches": [], "score_mismatches": []}


@pytest.mark.slow
def test_humaneval_x_java_all_tools():
    for program in ("java", "checkstyle"):
        _need(program)
    with gzip.open(
        _data_dir() / "humaneval_x_java" / "humaneval_java.jsonl.gz", "rt", encoding="utf-8"
    ) as fh:
        rows = [json.loads(line) for line in fh]
    samples = [Sample(r["task_id"], r["prompt"] + r["canonical_solution"], "java") for r in rows]
    results = analyse(samples)
    assert len(results) == len(samples) * len(default_analysers("java"))
    assert all(r.measures["compiled"] == 1.0 for r in results if r.tool == "javac")
    # Every reference solution compiles; checkstyle 8.36's grammar predates some of their syntax
    # (e.g. the "\\s" escape of Java 15 in Java/91 and Java/101): those are failed, with the reason.
    not_ok = [r for r in results if r.status != "ok"]
    assert {r.tool for r in not_ok} <= {"checkstyle-sun", "checkstyle-google"}
    assert ("Java/91", "checkstyle-sun") in {(r.key, r.tool) for r in not_ok}
    assert all(r.status == "failed" and "cannot parse this file at line" in r.detail for r in not_ok)
    assert len(not_ok) <= 0.1 * len(results)


@pytest.mark.slow
def test_codexglue_csharp_fragments_compile_as_wrapped():
    _need("mcs")
    path = _data_dir() / "codexglue_code2code_trans" / "test.java-cs.txt.cs"
    lines = path.read_text(encoding="utf-8").split("\n")[:60]
    results = analyse(
        [Sample(str(i), line, "csharp") for i, line in enumerate(lines) if line.strip()], analysers=["mcs"]
    )
    assert all(r.status == "ok" and "wrapped" in r.detail for r in results)
