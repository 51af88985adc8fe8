"""The fork server's own promises: pristine children, a dead or wedged server replaced and its job rerun
exactly once, and outcomes equal to the per-program path's.

The hostile programs of test_sandbox_adversarial.py run through the fork server as well (the default
mode); these tests look at what only a server that outlives one program can get wrong.
"""
# pylint: disable=missing-function-docstring

from __future__ import annotations

import gzip
import json
import os
import secrets
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from engine.scoring.sandbox import Limits, Program, isolation_info, run_many, run_program
from engine.scoring.sandbox.batch import ForkServerPool, run_batch
from engine.scoring.sandbox.forkserver import ForkServer, ForkServerError, server_config
from engine.scoring.sandbox.forkserver_inside import Tail
from engine.scoring.sandbox.runner import MODE_ENV, sandbox_mode


@pytest.fixture(autouse=True)
def _needs_bwrap():
    if isolation_info().mode not in ("bwrap", "bwrap-root"):
        pytest.skip(f"the fork server needs bwrap; this machine gives: {isolation_info().describe()}")


def _python(source: str, **limits: float) -> Program:
    return Program(source=source, language="python", limits=Limits(**limits))


def _marker() -> str:
    return "ctf" + secrets.token_hex(6)  # <= 15 characters: also a process name


def _named(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if marker in (proc.info["name"] or "") or any(marker in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _key(outcome) -> tuple:
    return (outcome.status, outcome.exit_code, outcome.reason, outcome.stdout_tail, outcome.stderr_tail)


# --- mode selection -----------------------------------------------------------------------------------


def test_mode_comes_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.delenv(MODE_ENV, raising=False)
    assert sandbox_mode() == "forkserver"
    monkeypatch.setenv(MODE_ENV, "process")
    assert sandbox_mode() == "process"
    assert sandbox_mode("forkserver") == "forkserver"
    monkeypatch.setenv(MODE_ENV, "threads")
    with pytest.raises(ValueError, match="unknown sandbox mode 'threads'"):
        run_program(_python("print(1)\n"))


def test_python_goes_through_one_server_per_worker_and_the_rest_per_program():
    programs = [_python(f"print({i})\n") for i in range(6)]
    programs.append(Program(source="import sys\nprint(sys.stdin.read())\n", language="python", stdin="in"))
    outcomes, stats = run_batch(programs, workers=2)
    assert [outcome.stdout_tail for outcome in outcomes] == [f"{i}\n" for i in range(6)] + ["in\n"]
    assert 1 <= stats.servers_started <= 2
    assert (stats.per_program, stats.server_failures, stats.fallbacks) == (1, 0, 0)
    _, process_stats = run_batch(programs[:2], workers=2, mode="process")
    assert (process_stats.servers_started, process_stats.per_program) == (0, 2)


def test_a_pool_keeps_servers_warm_between_batches_and_stops_them_at_the_end():
    programs = [_python(f"print({i})\n") for i in range(4)]
    with ForkServerPool() as pool:
        first, first_stats = run_batch(programs, workers=2, pool=pool)
        second, second_stats = run_batch(programs, workers=2, pool=pool)
        kept = [server.proc.pid for server in pool._idle if server.proc is not None]  # pylint: disable=protected-access
        assert kept and all(psutil.pid_exists(pid) for pid in kept)
        different = run_batch([_python("print(1)\n", memory_mb=512)], workers=1, pool=pool)[1]
    assert [outcome.stdout_tail for outcome in first + second] == [f"{i}\n" for i in range(4)] * 2
    assert first_stats.servers_started >= 1 and second_stats.servers_started == 0  # reused, not restarted
    assert different.servers_started == 1  # other limits: a server of its own
    for pid in kept:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_tail_keeps_the_end_and_counts_everything():
    tail = Tail(4)
    for chunk in (b"abc", b"defgh", b"ij"):
        tail.add(chunk)
    assert tail.total == 10
    assert tail.text() == "[... 6 bytes dropped ...]\nghij"


# --- children start pristine ----------------------------------------------------------------------


_SCAN = """
def _scan_memory(prefix, reversed_token):
    # Look for prefix + token in our own memory without ever building that string here.
    found = False
    with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', buffering=0) as mem:
        for line in maps:
            fields = line.split()
            if 'r' not in fields[1] or (len(fields) > 5 and fields[5] in ('[vvar]', '[vsyscall]', '[vvar_vclock]')):
                continue
            start, end = (int(value, 16) for value in fields[0].split('-'))
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            at = data.find(prefix)
            while at >= 0:
                tail = data[at + len(prefix):at + len(prefix) + len(reversed_token)]
                if tail[::-1] == reversed_token:
                    found = True
                at = data.find(prefix, at + 1)
    return found
"""


def test_a_program_leaves_nothing_for_the_next_one():
    marker = _marker()
    token = secrets.token_hex(8)
    prefix = "LEAKCHECK" + "-"
    writer = (
        "import builtins, json, os, subprocess, sys\n"
        + _SCAN
        + f"secret = {prefix!r} + {token!r}\n"
        "print(secret)\n"
        "sys.stderr.write(secret + '\\n')\n"
        "for path in ('left.txt', '/tmp/left', '/dev/shm/left', '../left'):\n"
        "    open(path, 'w').write(secret)\n"
        "os.mkdir('../locked')\n"
        "os.chmod('../locked', 0)\n"
        "os.environ['LEFT'] = secret\n"
        "builtins.LEFT = secret\n"
        "json.LEFT = secret\n"
        "sys.path.append('/left')\n"
        "sys.modules['leftmod'] = json\n"
        f"daemon = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}],"
        " start_new_session=True)\n"
        f"print('self-scan', _scan_memory({prefix.encode()!r}, {token[::-1].encode()!r}))\n"
    )
    reader = (
        "import builtins, json, os, sys\n"
        + _SCAN
        + "report = {\n"
        "    'cwd': sorted(os.listdir('.')), 'parent': sorted(os.listdir('..')),\n"
        "    'tmp': os.listdir('/tmp'), 'shm': os.listdir('/dev/shm'),\n"
        "    'env': 'LEFT' in os.environ, 'builtins': hasattr(builtins, 'LEFT'),\n"
        "    'module': hasattr(json, 'LEFT'), 'path': '/left' in sys.path, 'modules': 'leftmod' in sys.modules,\n"
        "    'processes': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),\n"
        f"    'memory': _scan_memory({prefix.encode()!r}, {token[::-1].encode()!r}),\n"
        "    'pid': os.getpid(), 'ppid': os.getppid(),\n"
        "}\n"
        "print(json.dumps(report))\n"
    )
    outcomes, stats = run_batch([_python(writer), _python(reader)], workers=1)
    assert [outcome.status for outcome in outcomes] == ["passed", "passed"], outcomes
    assert stats.servers_started == 1 and stats.server_failures == 0  # one server, cleaned, not replaced
    assert "self-scan True" in outcomes[0].stdout_tail  # the scan does find a secret where there is one
    report = json.loads(outcomes[1].stdout_tail)
    assert report["cwd"] == ["main.py"]
    assert len(report["parent"]) == 1  # only the reader's own work dir
    assert report["tmp"] == [] and report["shm"] == []
    assert not any(report[key] for key in ("env", "builtins", "module", "path", "modules", "memory")), report
    # Only init, the supervisor, the zygote and the reader itself are alive: the daemon is gone.
    assert len(report["processes"]) == 4 and report["pid"] in report["processes"], report
    assert not _named(marker)


# --- programs that turn on their server -------------------------------------------------------------


KILL_PARENT = (
    "import os, signal\n"
    "for target in (os.getppid(), -1, 1):\n"
    "    try:\n"
    "        os.kill(target, signal.SIGKILL)\n"
    "    except OSError as exc:\n"
    "        print(target, exc)\n"
    "print('still here')\n"
)
KILL_OWN_GROUP = "import os, signal\nprint('bye', flush=True)\nos.killpg(0, signal.SIGKILL)\n"
STOP_EVERYONE = (
    "import os, signal\n"
    "for name in os.listdir('/proc'):\n"
    "    if name.isdigit() and int(name) not in (1, os.getpid()):\n"
    "        os.kill(int(name), signal.SIGSTOP)\n"
    "print('stopped them')\n"
)


@pytest.mark.parametrize("source", [KILL_PARENT, KILL_OWN_GROUP, STOP_EVERYONE],
                         ids=["kill-server-and-all", "kill-own-group", "stop-server"])
def test_a_program_that_attacks_its_server_gets_the_per_program_outcome(source):
    neighbours = [_python(f"print('neighbour {i}')\n") for i in range(3)]
    programs = [neighbours[0], _python(source, timeout_s=2), *neighbours[1:]]
    outcomes, stats = run_batch(programs, workers=1, watchdog_grace_s=1.0)
    expected = run_program(_python(source, timeout_s=2), mode="process")
    assert _key(outcomes[1]) == _key(expected), (outcomes[1], expected)
    assert [outcome.stdout_tail for outcome in [outcomes[0], *outcomes[2:]]] == [
        f"neighbour {i}\n" for i in range(3)]
    if source == KILL_OWN_GROUP:  # its own group is only itself: the server is untouched
        assert (stats.servers_started, stats.server_failures) == (1, 0)
    else:  # it brought down two servers, then ran on the per-program path; the rest in a third server
        assert (stats.server_failures, stats.reruns, stats.fallbacks) == (2, 1, 1), stats
        assert stats.servers_started == 3


def _server_of(marker: str, deadline_s: float = 30.0) -> psutil.Process:
    """The supervisor of the job child named marker (its parent is the zygote, whose parent it is)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for proc in _named(marker):
            try:
                zygote = proc.parent()
                server = zygote.parent() if zygote is not None else None
            except psutil.Error:
                continue
            if server is not None:
                return server
        time.sleep(0.02)
    raise AssertionError(f"no job named {marker} appeared")


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_a_server_that_dies_or_wedges_is_replaced_and_its_job_rerun_once(how):
    marker = _marker()
    slow = _python(f"open('/proc/self/comm', 'w').write({marker!r})\n"
                   "import time\ntime.sleep(1.5)\nprint('made it')\n", timeout_s=3)
    attacked: list[int] = []

    def attack() -> None:
        server = _server_of(marker)
        attacked.append(server.pid)
        server.send_signal(signal.SIGKILL if how == "killed" else signal.SIGSTOP)

    thread = threading.Thread(target=attack)
    thread.start()
    try:
        outcomes, stats = run_batch([slow, _python("print('next')\n")], workers=1, watchdog_grace_s=1.0)
    finally:
        thread.join()
    assert attacked
    assert [outcome.stdout_tail for outcome in outcomes] == ["made it\n", "next\n"], outcomes
    assert (stats.servers_started, stats.server_failures, stats.reruns, stats.fallbacks) == (2, 1, 1, 0)


def test_a_wedged_server_is_detected_by_its_watchdog():
    program = _python("print('never answered')\n", timeout_s=1)
    config = server_config(isolation_info(), [program], watchdog_grace_s=0.5)
    with ForkServer(config) as server:
        server.start()
        assert server.proc is not None
        supervisor = next(proc for proc in psutil.Process(server.proc.pid).children(recursive=True)
                          if proc.children() and proc.parent().pid != server.proc.pid)
        supervisor.send_signal(signal.SIGSTOP)
        assert server.run(program) is None
        assert "wedged" in server.last_error
        assert not server.alive


def test_a_server_that_cannot_start_sends_the_batch_per_program(monkeypatch):
    def refuse(_self: ForkServer) -> None:
        raise ForkServerError("no server today")

    monkeypatch.setattr(ForkServer, "start", refuse)
    outcomes, stats = run_batch([_python("print(1)\n"), _python("print(2)\n")], workers=1)
    assert [outcome.stdout_tail for outcome in outcomes] == ["1\n", "2\n"]
    assert (stats.start_failures, stats.servers_started) == (1, 0)
    assert stats.per_program == 1  # the first one fell back where the start failed, the second went direct


# --- the same outcomes as the per-program path --------------------------------------------------------


def _humaneval(data_dir: Path) -> list[dict]:
    with gzip.open(data_dir / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _humaneval_programs(tasks: list[dict]) -> list[Program]:
    bodies = ("canonical", "    return None\n", "    raise ValueError('broken')\n", "    while True:\n        pass\n")
    programs = []
    for index, task in enumerate(tasks):
        body = bodies[index % len(bodies)]
        body = task["canonical_solution"] if body == "canonical" else body
        source = task["prompt"] + body + "\n" + task["test"] + f"\ncheck({task['entry_point']})\n"
        programs.append(Program(source=source, language="python", limits=Limits(timeout_s=1.0)))
    return programs


def _compare_modes(programs: list[Program]) -> None:
    forked, stats = run_batch(programs, workers=2)
    single = run_many(programs, max_workers=2, mode="process")
    assert stats.servers_started >= 1 and stats.per_program == 0
    differing = [(index, _key(a), _key(b)) for index, (a, b) in enumerate(zip(forked, single, strict=True))
                 if _key(a) != _key(b)]
    assert not differing
    assert {outcome.status for outcome in forked} >= {"passed", "failed", "error", "timeout"}


def test_humaneval_outcomes_equal_the_per_program_paths_sample(data_dir):
    _compare_modes(_humaneval_programs(_humaneval(data_dir)[:16]))


@pytest.mark.slow
def test_humaneval_outcomes_equal_the_per_program_paths_all(data_dir):
    _compare_modes(_humaneval_programs(_humaneval(data_dir)))


def test_hash_seed_exit_codes_and_shutdown_match_a_fresh_interpreter():
    sources = [
        "print(hash('codetune'))\n",
        "import atexit\natexit.register(lambda: print('atexit ran'))\nraise SystemExit(7)\n",
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread done'))).start()\nprint('main done')\n",
        "raise SystemExit('a message')\n",
        "import sys\nsys.exit(300)\n",
        "import os\nprint(sorted(os.environ), os.getcwd() == os.environ['HOME'])\n",
    ]
    programs = [_python(source) for source in sources]
    forked, _ = run_batch(programs, workers=1)
    single = run_many(programs, max_workers=1, mode="process")
    assert [_key(outcome) for outcome in forked] == [_key(outcome) for outcome in single]
    assert forked[1].stdout_tail == "atexit ran\n" and forked[1].exit_code == 7
    assert forked[2].stdout_tail == "main done\nthread done\n"
    assert os.environ.get(MODE_ENV) in (None, "", "forkserver")


def test_a_program_cannot_reach_the_servers_pipes_to_forge_a_result():
    fake = json.dumps({"id": 1, "returncode": 0, "timed_out": False, "duration_s": 0.0, "stdout": "",
                       "stderr": "", "stdout_bytes": 0, "stderr_bytes": 0, "leftovers_killed": 0, "dirty": ""})
    source = (
        "import os\n"
        "reached = []\n"
        "for name in os.listdir('/proc'):\n"
        "    if not name.isdigit() or int(name) in (1, os.getpid()):\n"
        "        continue\n"
        "    for fd in ('0', '1', '2', '3', '4', '5'):\n"
        "        try:\n"
        f"            with open(f'/proc/{{name}}/fd/{{fd}}', 'w') as handle:\n"
        f"                handle.write({fake!r} + '\\n')\n"
        "            reached.append((name, fd))\n"
        "        except OSError:\n"
        "            pass\n"
        "print('reached', reached)\n"
        "raise SystemExit(1)\n"
    )
    outcome = run_program(_python(source))
    assert (outcome.status, outcome.exit_code) == ("failed", 1), outcome
    assert outcome.stdout_tail == "reached []\n"


def test_cli_runs_either_mode(tmp_path, capsys):
    from engine.scoring.sandbox import main  # pylint: disable=import-outside-toplevel

    program = tmp_path / "hello.py"
    program.write_text("print('hello')\n", encoding="utf-8")
    for mode in ("forkserver", "process"):
        assert main([str(program), "--mode", mode]) == 0
        assert json.loads(capsys.readouterr().out)["stdout_tail"] == "hello\n"
