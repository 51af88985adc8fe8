"""Hostile programs against the sandbox: each test checks the program was contained and the host unharmed.

"Unharmed" is checked on the host side, never trusted from the program's own output: sentinel files
outside the work dir are untouched / were not created, this process and a bystander process are alive,
no process the program started (marked with a unique string in its name or command line) is left.
"""
# pylint: disable=missing-function-docstring,redefined-outer-name

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from engine.scoring.sandbox import Limits, Program, isolation_info, run_many, run_program
from engine.scoring.sandbox.runner import MODE_ENV

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# A process that outlives its parent unless someone kills it: ignores SIGTERM and SIGHUP, says it is up
# by creating ./ready, then sleeps.
SLEEPER = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
           "signal.signal(signal.SIGHUP, signal.SIG_IGN); open('ready', 'w').close(); time.sleep(600)")


def _marker() -> str:
    # <= 15 characters: it doubles as a process name (/proc/self/comm), which the kernel caps there.
    return "cts" + secrets.token_hex(6)


def _survivors(marker: str) -> list[str]:
    """Live processes (zombies are dead already) whose name or command line holds marker."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "status"]):
        info = proc.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if marker in (info["name"] or "") or any(marker in part for part in info["cmdline"] or []):
            found.append(f"{proc.pid} {info['name']} {info['cmdline']}")
    return found


def _python(source: str, **limits: float) -> Program:
    return Program(source=source, language="python", limits=Limits(**limits))


def _needs(attribute: str, why: str) -> None:
    info = isolation_info()
    if not getattr(info, attribute):
        pytest.skip(f"{why} needs {attribute} isolation, this machine gives: {info.describe()}")


@pytest.fixture(autouse=True, params=["forkserver", pytest.param("process", marks=pytest.mark.slow)])
def sandbox_mode(request, monkeypatch):
    """Every hostile program runs through the fork server (the default) and, in the slow suite, per program."""
    monkeypatch.setenv(MODE_ENV, request.param)
    return request.param


@pytest.fixture()
def bystander():
    """A process of ours that a sandboxed program must not be able to kill."""
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) as proc:
        yield proc
        proc.kill()


# --- resource exhaustion --------------------------------------------------------------------------


def test_fork_bomb_is_contained(bystander):
    marker = _marker()
    source = (
        f"open('/proc/self/comm', 'w').write({marker!r})\n"  # every fork inherits this name
        "import os\n"
        "while True:\n"
        "    os.fork()\n"
    )
    outcome = run_program(_python(source, timeout_s=10, max_processes=32))
    assert outcome.status in ("error", "timeout"), outcome
    assert outcome.status == "timeout" or "Resource temporarily unavailable" in outcome.stderr_tail
    assert not _survivors(marker)
    assert bystander.poll() is None


def test_fork_bomb_that_survives_fork_failures_times_out_cleanly():
    marker = _marker()
    source = (
        f"open('/proc/self/comm', 'w').write({marker!r})\n"
        "import os\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    outcome = run_program(_python(source, timeout_s=2, max_processes=16))
    assert outcome.status == "timeout"
    assert not _survivors(marker)


def test_memory_hog_hits_the_memory_limit():
    source = "chunks = []\nwhile True:\n    chunks.append(bytearray(50 * 1024 * 1024))\n"
    outcome = run_program(_python(source, timeout_s=20, memory_mb=256))
    assert outcome.status == "violation", outcome
    assert "memory limit of 256 MiB" in outcome.reason


def test_single_huge_allocation_is_refused():
    outcome = run_program(_python("x = bytearray(64 * 1024 ** 3)\n"))
    assert outcome.status == "violation"
    assert "MemoryError" in outcome.stderr_tail


def test_java_memory_hog_hits_the_heap_limit():
    source = (
        "import java.util.*;\n"
        "public class Main {\n"
        "    public static void main(String[] args) {\n"
        "        List<long[]> chunks = new ArrayList<>();\n"
        "        while (true) chunks.add(new long[1 << 20]);\n"
        "    }\n"
        "}\n"
    )
    outcome = run_program(Program(source=source, language="java", limits=Limits(memory_mb=128)))
    assert outcome.status == "violation", outcome
    assert "OutOfMemoryError" in outcome.reason


def test_java_thread_bomb_hits_the_process_limit():
    source = (
        "public class Main {\n"
        "    public static void main(String[] args) {\n"
        "        while (true) {\n"
        "            Thread t = new Thread(() -> {\n"
        "                try { Thread.sleep(600000); } catch (Exception e) { }\n"
        "            });\n"
        "            t.setDaemon(true);\n"
        "            t.start();\n"
        "        }\n"
        "    }\n"
        "}\n"
    )
    outcome = run_program(Program(source=source, language="java", limits=Limits(max_processes=48)))
    assert outcome.status == "violation", outcome
    assert "unable to create native thread" in outcome.reason


def test_infinite_loop_times_out():
    outcome = run_program(_python("while True:\n    pass\n", timeout_s=1.5))
    assert outcome.status == "timeout"
    assert 1.5 <= outcome.duration_s < 60


def test_large_file_hits_the_file_size_limit():
    source = "with open('big.bin', 'wb') as f:\n    f.write(b'x' * (8 * 1024 * 1024))\n"
    outcome = run_program(_python(source, file_size_mb=1))
    assert outcome.status == "violation"
    assert "file size limit of 1 MiB" in outcome.reason


def test_output_flood_is_capped_and_keeps_the_tail():
    source = (
        "import sys\n"
        "line = 'x' * 1000 + '\\n'\n"
        "for _ in range(60000):\n"  # 60 MB on each stream
        "    sys.stdout.write(line)\n"
        "    sys.stderr.write(line)\n"
        "print('END-OF-FLOOD')\n"
        "sys.stderr.write('END-OF-ERR\\n')\n"
    )
    outcome = run_program(_python(source, timeout_s=60, output_bytes=4096))
    assert outcome.status == "passed", outcome.reason
    assert outcome.stdout_tail.endswith("END-OF-FLOOD\n")
    assert outcome.stderr_tail.endswith("END-OF-ERR\n")
    for tail in (outcome.stdout_tail, outcome.stderr_tail):
        header, kept = tail.split("\n", 1)
        assert header.startswith("[... ") and header.endswith(" bytes dropped ...]")
        assert len(kept.encode()) <= 4096
    assert "stdout was 60060013 bytes" in outcome.reason


def test_too_many_open_files_is_refused():
    source = "files = [open('/dev/null') for _ in range(1000)]\n"
    outcome = run_program(_python(source, max_open_files=64))
    assert outcome.status == "error"
    assert "Too many open files" in outcome.reason


# --- escaping the process tree --------------------------------------------------------------------


def _wait_ready(indent: str = "") -> str:
    """Program lines that wait until the marked sleeper is up (it creates ./ready), then say READY."""
    return (f"{indent}import os as _os, time as _time\n"
            f"{indent}while not _os.path.exists('ready'):\n"
            f"{indent}    _time.sleep(0.01)\n"
            f"{indent}print('READY', flush=True)\n")


def _daemon(marker: str) -> str:
    """Program lines that leave a double-forked, setsid()'d, SIGTERM-ignoring sleeper behind."""
    return (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', {SLEEPER!r}, {marker!r}])\n"
        "    os._exit(0)\n"
        + _wait_ready()
    )


def test_grandchild_ignoring_sigterm_is_killed_at_the_timeout():
    marker = _marker()
    source = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', {SLEEPER!r}, {marker!r}])\n"
        + _wait_ready()
        + "while True:\n"
        "    pass\n"
    )
    outcome = run_program(_python(source, timeout_s=2))
    assert outcome.status == "timeout"
    assert outcome.stdout_tail == "READY\n"  # the grandchild was up when the clock ran out
    assert not _survivors(marker)


def test_setsid_daemon_left_behind_by_a_passing_program_is_killed():
    marker = _marker()
    outcome = run_program(_python(_daemon(marker) + "print('parent done')\n"))
    assert outcome.status == "passed"
    assert outcome.stdout_tail == "READY\nparent done\n"
    assert not _survivors(marker)


def test_setsid_escape_with_a_timeout_is_killed():
    marker = _marker()
    outcome = run_program(_python(_daemon(marker) + "time.sleep(600)\n", timeout_s=1.5))
    assert outcome.status == "timeout"
    assert outcome.stdout_tail == "READY\n"
    assert not _survivors(marker)


@pytest.mark.parametrize("form", ["bwrap", "bwrap-root", "unshare", "none"])
def test_every_isolation_form_kills_escaped_processes(form):
    """The weaker forms lean on the throw-away uid (or a pid namespace) for clean-up: check each."""
    try:
        info = isolation_info(form)
    except ValueError as exc:
        pytest.skip(f"isolation form {form} not usable here: {exc}")
    if not (info.pid_namespace or info.per_run_uid):
        pytest.skip(f"{form} has neither a pid namespace nor a throw-away uid to find escaped processes")
    marker = _marker()
    passing = run_program(_python(_daemon(marker) + "print('bye')\n"), isolation=form)
    hanging = run_program(_python(_daemon(marker) + "time.sleep(600)\n", timeout_s=1.0), isolation=form)
    assert (passing.status, hanging.status) == ("passed", "timeout"), (passing, hanging)
    assert passing.stdout_tail == "READY\nbye\n" and hanging.stdout_tail == "READY\n"
    assert not _survivors(marker)


def test_java_child_process_is_killed():
    marker = _marker()
    source = (
        "public class Main {\n"
        "    public static void main(String[] args) throws Exception {\n"
        "        new ProcessBuilder(\"/bin/sleep\", \"600\").start();\n"
        "        new ProcessBuilder(\"/usr/bin/python3\", \"-c\",\n"
        f"            \"import time; open('ready', 'w').close(); time.sleep(600)\", \"{marker}\").start();\n"
        "        while (!new java.io.File(\"ready\").exists()) { Thread.sleep(10); }\n"
        "        System.out.println(\"READY\");\n"
        "        System.out.flush();\n"
        "        while (true) { Thread.sleep(1000); }\n"
        "    }\n"
        "}\n"
    )
    outcome = run_program(Program(source=source, language="java", limits=Limits(timeout_s=3)))
    assert outcome.status == "timeout", outcome
    assert outcome.stdout_tail == "READY\n"
    assert not _survivors(marker)


def test_killing_the_parent_and_everyone_harms_nothing(bystander):
    if not (isolation_info().pid_namespace or isolation_info().per_run_uid):
        pytest.skip("kill(-1) would reach our own processes without a pid namespace or a separate uid")
    source = (
        "import os, signal\n"
        "for target in (os.getppid(), -1, 1):\n"
        "    try:\n"
        "        os.kill(target, signal.SIGKILL)\n"
        "    except OSError as exc:\n"
        "        print(target, exc)\n"
        "print('still here')\n"
    )
    outcomes = run_many([_python(source), _python("print('neighbour ok')\n")], max_workers=2)
    assert outcomes[1].status == "passed" and outcomes[1].stdout_tail == "neighbour ok\n"
    assert outcomes[0].status in ("passed", "failed", "error", "timeout")
    assert outcomes[0].reason
    assert bystander.poll() is None
    assert psutil.pid_exists(os.getpid())


# --- reaching out of the sandbox ------------------------------------------------------------------


def test_writes_outside_the_work_dir_do_not_reach_the_host():
    _needs("filesystem", "checking host file writes")
    name = f"codetune-sandbox-escape-{secrets.token_hex(6)}"
    targets = [Path("/tmp") / name, PROJECT_ROOT / name, Path.home() / name, Path("/etc") / name,
               Path("/var/tmp") / name]
    existing = Path("/tmp") / f"{name}-existing"
    existing.write_text("untouched", encoding="utf-8")
    existing.chmod(0o666)  # even a world-writable host file must be out of reach
    try:
        source = (
            "import os\n"
            f"for path in {[str(t) for t in targets]!r}:\n"
            "    try:\n"
            "        with open(path, 'w') as handle:\n"
            "            handle.write('escaped')\n"
            "    except OSError as exc:\n"
            "        print('refused', path, exc)\n"
            f"for action in (lambda: open({str(existing)!r}, 'w').write('overwritten'),\n"
            f"               lambda: os.remove({str(existing)!r})):\n"
            "    try:\n"
            "        action()\n"
            "    except OSError as exc:\n"
            "        print('refused', exc)\n"
            "open('inside.txt', 'w').write('fine')\n"
            "print(open('inside.txt').read())\n"
        )
        outcome = run_program(_python(source))
        assert outcome.status == "passed", outcome
        assert outcome.stdout_tail.endswith("fine\n")  # the work dir itself is writable
        assert [path for path in targets if path.exists()] == []
        assert existing.read_text(encoding="utf-8") == "untouched"
    finally:
        existing.unlink(missing_ok=True)
        for path in targets:
            path.unlink(missing_ok=True)


def test_host_files_are_not_readable():
    _needs("filesystem", "hiding host files")
    secret = f"secret-{secrets.token_hex(8)}"
    hidden = Path("/tmp") / f"codetune-sandbox-secret-{secrets.token_hex(6)}"
    hidden.write_text(secret, encoding="utf-8")
    hidden.chmod(0o644)  # readable by anyone on the host
    try:
        source = (
            f"for path in ({str(hidden)!r}, {str(PROJECT_ROOT / 'pyproject.toml')!r}, '/etc/shadow',"
            " '/root/.bashrc'):\n"
            "    try:\n"
            "        print(open(path).read())\n"
            "    except OSError as exc:\n"
            "        print('refused', type(exc).__name__)\n"
        )
        outcome = run_program(_python(source))
        assert outcome.status == "passed"
        assert secret not in outcome.stdout_tail
        assert "[project]" not in outcome.stdout_tail
        assert outcome.stdout_tail.count("refused") == 4
    finally:
        hidden.unlink()


def test_parent_environment_is_not_inherited(monkeypatch):
    token = f"tok-{secrets.token_hex(8)}"
    monkeypatch.setenv("CODETUNE_TEST_SECRET", token)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", token)
    source = "import os\nfor key, value in sorted(os.environ.items()):\n    print(f'{key}={value}')\n"
    outcome = run_program(_python(source))
    assert outcome.status == "passed"
    assert token not in outcome.stdout_tail
    keys = {line.split("=", 1)[0] for line in outcome.stdout_tail.splitlines()}
    allowed = {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PWD", "PYTHONHASHSEED", "PYTHONIOENCODING",
               "PYTHONDONTWRITEBYTECODE"}
    assert keys <= allowed, keys - allowed


def test_network_connection_to_the_host_fails():
    _needs("network", "the network test")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(5)
        port = server.getsockname()[1]
        source = (
            "import socket, sys\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=3).sendall(b'leak')\n"
            "except OSError as exc:\n"
            "    print('blocked', exc)\n"
            "    sys.exit(0)\n"
            "print('connected')\n"
            "sys.exit(1)\n"
        )
        outcome = run_program(_python(source))
        assert outcome.status == "passed", outcome
        assert outcome.stdout_tail.startswith("blocked")
        server.setblocking(False)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody ever reached us


def test_no_route_to_the_outside_world():
    _needs("network", "the network test")
    source = (
        "import socket\n"
        "for host in ('1.1.1.1', '8.8.8.8'):\n"
        "    try:\n"
        "        socket.create_connection((host, 53), timeout=2)\n"
        "        print('reached', host)\n"
        "    except OSError as exc:\n"
        "        print('blocked', host, exc)\n"
    )
    outcome = run_program(_python(source))
    assert "reached" not in outcome.stdout_tail
    assert outcome.stdout_tail.count("blocked") == 2


# --- malformed input ------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["python", "java", "csharp"])
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", {"error"}),
        ("   \n\t\n", {"error"}),
        ("\x00\x01\x02garbage\xff\udcff\ud800", {"error", "compile_error"}),
        ("def (((:\n", {"error", "compile_error"}),
    ],
    ids=["empty", "blank", "binary", "syntax"],
)
def test_malformed_programs_give_an_outcome_with_a_reason(language, source, expected):
    if language != "python" and not source.strip():
        expected = {"error"}
    outcome = run_program(Program(source=source, language=language))
    assert outcome.status in expected, outcome
    assert outcome.reason


def test_no_temp_dirs_are_left_behind(monkeypatch):
    # A private temp root, so concurrent sandbox users elsewhere on the machine cannot disturb the count;
    # 0711 because bwrap, running as the run's uid, must be able to pass through it.
    root = Path(tempfile.mkdtemp(prefix="codetune-sandbox-root-"))
    root.chmod(0o711)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    try:
        outcomes = run_many([_python("open('x', 'w').write('y')\n"),
                             _python("while True:\n    pass\n", timeout_s=1),
                             Program(source="public class Main { public static void main(String[] a) { } }",
                                     language="java")])
        assert [outcome.status for outcome in outcomes] == ["passed", "timeout", "passed"], outcomes
        assert not list(root.iterdir())
    finally:
        shutil.rmtree(root, ignore_errors=True)
