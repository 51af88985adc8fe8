"""Tests of the sandbox's behaviour on honest programs: statuses per language, benchmarks, API, CLI.

Hostile programs (fork bombs, escapes, floods) are in test_sandbox_adversarial.py.
"""
# pylint: disable=missing-function-docstring

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import resource
import shutil
import tempfile
from pathlib import Path

import pytest

from engine.scoring.sandbox import (
    STATUSES,
    Limits,
    Outcome,
    Program,
    isolation_available,
    isolation_info,
    main,
    run_many,
    run_program,
)
from engine.scoring.sandbox.isolation import (
    RLimits,
    build_launch,
    detect,
    draw_uid,
    kill_uid,
    python_interpreter,
)
from engine.scoring.sandbox.languages import Phase, signal_of, verdict
from engine.scoring.sandbox.process import PhaseResult, run_phase

JAVA_SAMPLE = (0, 2, 13, 53, 120)  # HumanEval-X task indices run in the default suite


def _humaneval(data_dir: Path) -> list[dict]:
    with gzip.open(data_dir / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _humaneval_java(data_dir: Path) -> list[dict]:
    path = data_dir / "humaneval_x_java" / "humaneval_java.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _python_program(task: dict, body: str) -> Program:
    source = task["prompt"] + body + "\n" + task["test"] + f"\ncheck({task['entry_point']})\n"
    return Program(source=source, language="python")


def _java_program(task: dict, solution: str | None = None) -> Program:
    body = task["canonical_solution"] if solution is None else solution
    return Program(source=task["prompt"] + body + "\n" + task["test"], language="java")


# --- value types ---------------------------------------------------------------------------------


def test_limits_reject_nonsense_and_derive_cpu():
    with pytest.raises(ValueError, match="timeout_s"):
        Limits(timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb"):
        Limits(memory_mb=-5)
    with pytest.raises(ValueError, match="cpu_s"):
        Limits(cpu_s=float("nan"))
    assert Limits(timeout_s=3).effective_cpu_s() == 7
    assert Limits(timeout_s=3, cpu_s=2.5).effective_cpu_s() == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        Limits().timeout_s = 1  # type: ignore[misc]


def test_program_rejects_unknown_language():
    with pytest.raises(ValueError, match="ruby"):
        Program(source="puts 1", language="ruby")  # type: ignore[arg-type]
    assert Program(source="x", language="python").effective_limits == Limits()


def test_outcome_is_frozen_and_serialises():
    outcome = run_program(Program(source="print('hello')", language="python"))
    assert set(outcome.to_dict()) == {"status", "exit_code", "duration_s", "stdout_tail", "stderr_tail",
                                      "isolation", "reason"}
    assert json.loads(json.dumps(outcome.to_dict()))["stdout_tail"] == "hello\n"
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.status = "failed"  # type: ignore[misc]


# --- Python statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "status", "exit_code", "reason_part"),
    [
        ("print('ok')\n", "passed", 0, "status 0"),
        ("assert 1 + 1 == 3, 'arithmetic'\n", "failed", 101, "AssertionError: arithmetic"),
        ("def f():\n    return undefined_name\nf()\n", "error", 102, "NameError"),
        ("print(1 / 0)\n", "error", 102, "ZeroDivisionError"),
        ("def broken(:\n    pass\n", "error", 104, "SyntaxError"),
        ("import sys\nsys.exit(3)\n", "failed", 3, "status 3"),
        ("import sys\nsys.exit(0)\n", "passed", 0, "status 0"),
        ("raise SystemExit('bye')\n", "failed", 1, "status 1"),
    ],
    ids=["pass", "assert", "name-error", "zero-division", "syntax", "exit-3", "exit-0", "exit-message"],
)
def test_python_statuses(source, status, exit_code, reason_part):
    outcome = run_program(Program(source=source, language="python"))
    assert outcome.status == status, outcome
    assert outcome.exit_code == exit_code
    assert reason_part in outcome.reason
    assert outcome.duration_s > 0
    assert outcome.isolation == isolation_available()


def test_python_traceback_points_into_the_program():
    outcome = run_program(Program(source="x = 1\nassert x == 2\n", language="python"))
    assert outcome.status == "failed"
    assert 'File "main.py", line 2' in outcome.stderr_tail
    assert "_codetune" not in outcome.stderr_tail  # the runner's own frame is not shown


def test_python_stdin_and_unicode_output():
    program = Program(source="import sys\nprint(sys.stdin.read().upper())\n", language="python",
                      stdin="grüße\n")
    outcome = run_program(program)
    assert outcome.status == "passed"
    assert outcome.stdout_tail.strip() == "GRÜSSE"


def test_python_timeout_kills_an_infinite_loop():
    outcome = run_program(Program(source="while True:\n    pass\n", language="python",
                                  limits=Limits(timeout_s=1.0)))
    assert outcome.status == "timeout"
    assert outcome.exit_code == -9
    assert outcome.duration_s >= 1.0
    assert "wall-clock" in outcome.reason


def test_cpu_limit_stops_a_busy_program_before_the_wall_clock():
    outcome = run_program(Program(source="while True:\n    pass\n", language="python",
                                  limits=Limits(timeout_s=60, cpu_s=1)))
    assert outcome.status == "timeout"
    assert "CPU time limit of 1 s" in outcome.reason
    assert outcome.exit_code == -24  # SIGXCPU
    assert outcome.duration_s < 60


def test_output_keeps_the_tail_and_says_what_was_dropped():
    source = "for i in range(5000):\n    print(f'line {i}')\n"
    outcome = run_program(Program(source=source, language="python", limits=Limits(output_bytes=200)))
    assert outcome.status == "passed"
    assert outcome.stdout_tail.endswith("line 4999\n")
    assert outcome.stdout_tail.startswith("[... ")
    kept = outcome.stdout_tail.split("\n", 1)[1]
    assert len(kept.encode()) <= 200
    assert "only the last 200 kept" in outcome.reason


def test_python_hash_seed_is_fixed_for_reproducible_runs():
    source = "import sys\nprint(sys.flags.hash_randomization, hash('codetune') == hash('codetune'))\n"
    outcome = run_program(Program(source=source, language="python"))
    assert outcome.status == "passed"
    assert outcome.stdout_tail == "0 True\n"  # PYTHONHASHSEED=0: set order is the same on every run


# --- HumanEval (Python) ---------------------------------------------------------------------------


def test_humaneval_canonical_solutions_all_pass(data_dir):
    tasks = _humaneval(data_dir)
    assert len(tasks) == 164
    outcomes = run_many([_python_program(task, task["canonical_solution"]) for task in tasks])
    failures = {task["task_id"]: outcome.reason for task, outcome in zip(tasks, outcomes, strict=True)
                if outcome.status != "passed"}
    assert not failures


def _check_wrong_bodies(tasks: list[dict]) -> None:
    outcomes = run_many([_python_program(task, "    return None\n") for task in tasks])
    by_status = {status: 0 for status in STATUSES}
    for task, outcome in zip(tasks, outcomes, strict=True):
        by_status[outcome.status] += 1
        # A wrong answer trips an assert; where the test does arithmetic on it, Python raises TypeError.
        assert outcome.status in ("failed", "error"), (task["task_id"], outcome)
        if outcome.status == "error":
            assert "TypeError" in outcome.reason, (task["task_id"], outcome.reason)
        else:
            assert outcome.exit_code == 101, (task["task_id"], outcome)
    assert by_status["failed"] > by_status["error"]


def test_humaneval_wrong_bodies_fail_sample(data_dir):
    _check_wrong_bodies(_humaneval(data_dir)[::8])


@pytest.mark.slow
def test_humaneval_wrong_bodies_fail_all(data_dir):
    _check_wrong_bodies(_humaneval(data_dir))


# --- HumanEval-X (Java) ---------------------------------------------------------------------------


def test_java_canonical_sample_passes(data_dir):
    tasks = _humaneval_java(data_dir)
    sample = [tasks[index] for index in JAVA_SAMPLE]
    outcomes = run_many([_java_program(task) for task in sample])
    assert [outcome.status for outcome in outcomes] == ["passed"] * len(sample), outcomes


@pytest.mark.slow
def test_java_canonical_all_pass(data_dir):
    tasks = _humaneval_java(data_dir)
    assert len(tasks) == 164
    outcomes = run_many([_java_program(task) for task in tasks])
    failures = {task["task_id"]: outcome.reason for task, outcome in zip(tasks, outcomes, strict=True)
                if outcome.status != "passed"}
    assert not failures


def test_java_broken_wrong_crashing_and_mainless(data_dir):
    task = _humaneval_java(data_dir)[0]  # hasCloseElements(List<Double>, double) -> boolean
    broken = _java_program(task, "        return true\n    }\n}")
    wrong = _java_program(task, "        return false;\n    }\n}")
    crashing = _java_program(task, "        return numbers.get(1000) > threshold;\n    }\n}")
    no_main = Program(source="public class Main {\n}\n", language="java")
    outcomes = run_many([broken, wrong, crashing, no_main])
    assert [outcome.status for outcome in outcomes] == ["compile_error", "failed", "error", "error"], outcomes
    assert "javac failed" in outcomes[0].reason and "';' expected" in outcomes[0].reason
    assert "java.lang.AssertionError" in outcomes[1].reason
    assert "IndexOutOfBoundsException" in outcomes[2].reason
    assert "at Main.main" in outcomes[1].stderr_tail
    assert "no public static void main" in outcomes[3].reason


# --- C# (MultiPL-E style) -------------------------------------------------------------------------

CS_SOLUTIONS = {
    "HumanEval_23_strlen": "        return str.Length;\n",
    "HumanEval_53_add": "        return x + y;\n",
    "HumanEval_48_is_palindrome": (
        "        for (int i = 0; i < text.Length / 2; i++) {\n"
        "            if (text[i] != text[text.Length - 1 - i]) return false;\n"
        "        }\n"
        "        return true;\n"
    ),
}


def _csharp_tasks(data_dir: Path) -> dict[str, dict]:
    path = data_dir / "multipl_e" / "humaneval-cs.jsonl"
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return {row["name"]: row for row in rows if row["name"] in CS_SOLUTIONS}


def _cs_program(task: dict, body: str) -> Program:
    return Program(source=task["prompt"] + body + task["tests"], language="csharp")


def test_csharp_correct_solutions_pass(data_dir):
    tasks = _csharp_tasks(data_dir)
    assert set(tasks) == set(CS_SOLUTIONS)
    outcomes = run_many([_cs_program(tasks[name], body) for name, body in CS_SOLUTIONS.items()])
    assert [outcome.status for outcome in outcomes] == ["passed"] * len(CS_SOLUTIONS), outcomes


def test_csharp_wrong_broken_and_crashing(data_dir):
    task = _csharp_tasks(data_dir)["HumanEval_23_strlen"]
    wrong = _cs_program(task, "        return str.Length + 1;\n")
    broken = _cs_program(task, "        return str.Length\n")
    crashing = _cs_program(task, "        return str.Length / (str.Length - str.Length);\n")
    outcomes = run_many([wrong, broken, crashing])
    assert [outcome.status for outcome in outcomes] == ["failed", "compile_error", "error"], outcomes
    assert outcomes[0].exit_code == 101
    assert "Debug.Assert failed in Problem.Main" in outcomes[0].reason
    assert "mcs failed" in outcomes[1].reason and "CS1525" in outcomes[1].reason
    assert "DivideByZeroException" in outcomes[2].reason


CS_FAILING_ASSERT = (
    "using System;\nusing System.Diagnostics;\n"
    "class Problem {\n"
    "    public static void Main(string[] args) {\n"
    "        Console.WriteLine(\"before\");\n"
    "        Debug.Assert(1 + 1 == 3);\n"
    "        Console.WriteLine(\"after\");\n"
    "    }\n"
    "}\n"
)


def test_csharp_assert_after_output_still_fails():
    outcome = run_program(Program(source=CS_FAILING_ASSERT, language="csharp"))
    assert outcome.status == "failed"
    assert outcome.stdout_tail == "before\n"  # the failed assert ends the run on the spot


# --- run_many -------------------------------------------------------------------------------------


def test_run_many_keeps_input_order_and_reports_progress():
    sources = [f"import time\ntime.sleep({0.3 if i % 2 == 0 else 0})\nprint({i})\n" for i in range(6)]
    sources[3] = "assert False\n"
    calls: list[tuple[int, int]] = []
    outcomes = run_many([Program(source=s, language="python") for s in sources], max_workers=3,
                        progress=lambda done, total: calls.append((done, total)))
    assert [outcome.status for outcome in outcomes] == ["passed"] * 3 + ["failed"] + ["passed"] * 2
    assert [outcome.stdout_tail for outcome in outcomes if outcome.passed] == ["0\n", "1\n", "2\n", "4\n",
                                                                              "5\n"]
    assert calls == [(done, 6) for done in range(1, 7)]
    assert run_many([]) == []


def test_run_many_progress_exception_propagates():
    def stop(done: int, total: int) -> None:
        raise RuntimeError(f"stop at {done}/{total}")

    with pytest.raises(RuntimeError, match="stop at 1/4"):
        run_many([Program(source="print(1)", language="python")] * 4, max_workers=1, progress=stop)


# --- isolation forms ------------------------------------------------------------------------------


def test_isolation_is_described_and_recorded():
    text = isolation_available()
    info = isolation_info()
    assert text == info.describe()
    assert text.startswith("REDUCED") == info.reduced
    assert ("network isolated" in text) == info.network
    outcome = run_program(Program(source="pass\n", language="python"))
    assert outcome.isolation == text


def test_unknown_isolation_request_is_an_error_outcome():
    outcome = run_program(Program(source="print(1)", language="python"), isolation="chroot")
    assert outcome.status == "error"
    assert "unknown isolation" in outcome.reason


@pytest.mark.parametrize("form", ["bwrap", "bwrap-root", "unshare", "none"])
def test_each_available_form_runs_and_classifies(form):
    try:
        info = isolation_info(form)
    except ValueError as exc:
        pytest.skip(f"isolation form {form} not usable here: {exc}")
    programs = [Program(source=s, language="python", limits=Limits(timeout_s=1.0))
                for s in ("import os\nprint(os.getuid())\n", "assert False\n", "while True:\n    pass\n")]
    outcomes = [run_program(program, isolation=form) for program in programs]
    assert [outcome.status for outcome in outcomes] == ["passed", "failed", "timeout"], outcomes
    assert outcomes[0].isolation == info.describe()
    if os.geteuid() == 0:  # root hands every run a throw-away uid from the high range
        assert int(outcomes[0].stdout_tail) >= 1_000_000_000
    # A compiled language too: the toolchain's files (/etc/mono, /usr/lib/mono) are reachable.
    csharp = run_program(Program(source=CS_FAILING_ASSERT, language="csharp"), isolation=form)
    assert csharp.status == "failed", csharp


@pytest.mark.slow
@pytest.mark.parametrize("form", ["bwrap", "bwrap-root", "unshare", "none"])
def test_each_available_form_runs_java(form, data_dir):
    try:
        isolation_info(form)
    except ValueError as exc:
        pytest.skip(f"isolation form {form} not usable here: {exc}")
    task = _humaneval_java(data_dir)[0]
    outcomes = [run_program(_java_program(task), isolation=form),
                run_program(_java_program(task, "        return false;\n    }\n}"), isolation=form)]
    assert [outcome.status for outcome in outcomes] == ["passed", "failed"], outcomes


def test_rlimits_reach_the_program_with_prlimit_and_with_the_python_shim():
    info = detect("auto")
    rlimits = RLimits(cpu_s=7, data_bytes=300 << 20, address_space_bytes=900 << 20,
                      file_size_bytes=3 << 20, processes=33, open_files=77)
    script = ("import resource as r\n"
              "print(*(r.getrlimit(getattr(r, n))[0] for n in ('RLIMIT_CPU', 'RLIMIT_DATA', 'RLIMIT_AS',"
              " 'RLIMIT_FSIZE', 'RLIMIT_NPROC', 'RLIMIT_NOFILE', 'RLIMIT_CORE')))\n")
    expected = f"7 {300 << 20} {900 << 20} {3 << 20} 33 77 0"
    for tool in ("prlimit", "python"):
        form = dataclasses.replace(info, rlimit_tool=tool)
        # Not tmp_path: pytest makes that 0700 root-only, and bwrap runs as the throw-away uid.
        workdir = Path(tempfile.mkdtemp(prefix="codetune-sandbox-test-"))
        uid = draw_uid()
        if uid is not None:
            os.chown(workdir, uid, uid)
        launch = build_launch(form, workdir=str(workdir), command=[python_interpreter(), "-c", script],
                              rlimits=rlimits, uid=uid)
        result = run_phase(launch, timeout_s=30, output_bytes=4096, uid=uid)
        if uid is not None:
            kill_uid(uid)
        shutil.rmtree(workdir)
        assert result.returncode == 0, result
        assert result.stdout.split() == expected.split(), tool
    # The limits are on the sandboxed program only, never on this process.
    assert resource.getrlimit(resource.RLIMIT_NPROC)[0] != 33


def test_rlimits_never_ask_for_more_than_the_hard_limits():
    hard_files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    clamped = RLimits(cpu_s=5, data_bytes=1, address_space_bytes=1, file_size_bytes=1, processes=1,
                      open_files=10**12).clamped()
    assert clamped.open_files == (10**12 if hard_files == resource.RLIM_INFINITY else hard_files)
    assert clamped.cpu_s == 5 and clamped.processes == 1


def test_a_private_temp_dir_does_not_lock_the_run_out(monkeypatch, tmp_path):
    # pytest's tmp_path is 0700 root-only: a throw-away uid could not pass through it.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    outcome = run_program(Program(source="print('ran')\n", language="python"))
    assert (outcome.status, outcome.stdout_tail) == ("passed", "ran\n"), outcome


# --- how exits read -------------------------------------------------------------------------------


def _phase_result(returncode: int, stderr: str = "") -> PhaseResult:
    return PhaseResult(returncode=returncode, timed_out=False, duration_s=0.1, stdout="", stderr=stderr,
                       stdout_bytes=0, stderr_bytes=len(stderr), leftovers_killed=0)


@pytest.mark.parametrize(
    ("language", "phase_name", "returncode", "stderr", "status", "reason_part"),
    [
        ("python", "run", 128 + 25, "", "violation", "file size limit"),  # SIGXFSZ, as bwrap reports it
        ("python", "run", -11, "", "error", "SIGSEGV"),
        ("python", "run", 128 + 24, "", "timeout", "CPU time limit"),
        ("java", "compile", 1, "Error occurred during initialization of VM\nToo small heap", "error",
         "JVM could not start"),
        ("java", "run", 103, 'Exception in thread "main" java.lang.OutOfMemoryError: unable to create native '
         "thread", "violation", "process/thread limit"),
        ("csharp", "compile", 1, "x.cs(1,2): error CS1002: ; expected", "compile_error", "CS1002"),
        ("csharp", "run", 7, "", "failed", "status 7"),
        ("python", "run", 1, "bwrap: Can't mount tmpfs on /newroot/tmp: Operation not permitted\n", "error",
         "sandbox set-up failed: bwrap:"),
    ],
)
def test_exit_statuses_read_as_documented(language, phase_name, returncode, stderr, status, reason_part):
    program = Program(source="x", language=language)
    phase = Phase(phase_name, ["true"], 10.0, RLimits(1, 1, 1, 1, 1, 1))
    found = verdict(program, phase, _phase_result(returncode, stderr), through_bwrap=True)
    assert found is not None
    assert (found.status, reason_part in found.reason) == (status, True), found


def test_signal_numbers_only_decoded_through_bwrap():
    assert signal_of(137, through_bwrap=True) == 9
    assert signal_of(137, through_bwrap=False) is None
    assert signal_of(-9, through_bwrap=False) == 9
    assert signal_of(1, through_bwrap=True) is None


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_prints_outcome_json(tmp_path, capsys):
    good = tmp_path / "good.py"
    good.write_text("print('from the cli')\n", encoding="utf-8")
    assert main([str(good), "--lang", "python", "--timeout", "5"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "passed"
    assert printed["stdout_tail"] == "from the cli\n"

    bad = tmp_path / "bad.py"
    bad.write_text("assert 2 + 2 == 5\n", encoding="utf-8")
    assert main([str(bad)]) == 1  # language from the suffix
    assert json.loads(capsys.readouterr().out)["status"] == "failed"


def test_cli_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "program.txt")])
    assert exit_info.value.code == 2
    assert "--lang" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.py")])
    assert "cannot read" in capsys.readouterr().err
    assert main(["--show-isolation"]) == 0
    assert capsys.readouterr().out.strip() == isolation_available()


def test_value_types_are_frozen_dataclasses():
    for cls in (Outcome, Limits, Program):
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]  # pylint: disable=no-member
