"""The fork server's side inside the container: a supervisor and a pristine zygote (standard library only).

This file's source text is what the container's Python runs (`python -S -B -c <this text> <config>`), so
it imports nothing of ours: the project is not visible in the container. forkserver.py starts it; the
app (worker) side never runs any of it in its own process except the Tail class, which process.py shares.

Processes, by pid in the container's pid namespace:

1  bwrap's init.
S  the supervisor (this script's main process). Reads one job at a time from the app on stdin, asks the
   zygote for a child, reads the child's stdout / stderr into capped tails, enforces the wall clock
   (SIGKILL to the child's process group), kills every process the job left behind, wipes the
   writable places (/sandbox, /tmp, /dev/shm), and writes one JSON result line on stdout. It never runs
   program code. It sends a result only when it knows the exit status; when anything is off it exits
   and the app reruns the job in a fresh server.
Z  the zygote, forked by S before any job arrives: its memory holds nothing of any program or output
   (S holds the outputs), so every child starts from the same pristine interpreter. Z only forks one
   child per job and reports the child's pid and wait status to S over a socketpair.
G  one job: its own session and process group, its own rlimits, a fresh work dir as cwd and HOME,
   stdin from /dev/null, stdout / stderr into S's pipes; it runs the Python runner harness (the same
   text the per-program path runs) and ends as a Python process ends (atexit, thread joins, flushes).

S and Z are made non-dumpable (prctl), so a job, which runs as the same uid, cannot ptrace them or
open /proc/<S>/fd/1 to forge result lines; it can still signal them, which the app detects (death:
EOF; SIGSTOP: its watchdog) and answers by rerunning the job in a fresh server.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import selectors
import signal
import socket
import sys
import time
from types import CodeType

WORKDIR = "/sandbox"
WIPED = ("/sandbox", "/tmp", "/dev/shm")
SETUP_FAILED = 125  # a job child could not be set up (never a program's own doing)
_CHUNK = 64 * 1024
_POLL_S = 0.05
_DRAIN_S = 2.0  # after the child's exit, how long to drain output still held by its pipes
_STATUS_GRACE_S = 5.0  # after a time-out kill, how long the zygote may take to report the exit
_SWEEP_PATIENCE_S = 10.0
_MESSAGE_BYTES = 64 * 1024
_RLIMITS = {"cpu": resource.RLIMIT_CPU, "data": resource.RLIMIT_DATA, "as": resource.RLIMIT_AS,
            "fsize": resource.RLIMIT_FSIZE, "nproc": resource.RLIMIT_NPROC,
            "nofile": resource.RLIMIT_NOFILE, "core": resource.RLIMIT_CORE}


class Tail:
    """The last `cap` bytes of a stream, plus how many bytes went by in total."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.total = 0
        self._buffer = bytearray()

    def add(self, chunk: bytes) -> None:
        """Account for chunk and keep it, dropping what falls out of the last `cap` bytes."""
        self.total += len(chunk)
        self._buffer += chunk
        if len(self._buffer) > 2 * self.cap:  # trim in batches, not on every chunk
            del self._buffer[: len(self._buffer) - self.cap]

    def text(self) -> str:
        """The kept bytes as text, headed by a line saying how much was dropped, if any."""
        kept = bytes(self._buffer[-self.cap:]) if self.cap else b""
        body = kept.decode("utf-8", errors="replace")
        dropped = self.total - len(kept)
        return f"[... {dropped} bytes dropped ...]\n{body}" if dropped > 0 else body


class ServerBroken(Exception):
    """The supervisor can no longer vouch for a job's result: it exits without one."""


def _set_dumpable(flag: int) -> None:
    import ctypes  # pylint: disable=import-outside-toplevel  # only the container's processes need it

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, flag, 0, 0, 0) != 0:  # 4: PR_SET_DUMPABLE
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


# --- the zygote and its children ---------------------------------------------------------------------


def _job_child(sock: socket.socket, request: dict, fds: list[int], runner: CodeType) -> CodeType:
    """In a fresh child of the zygote: become the job's process, return the runner to execute."""
    try:
        sock.close()
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        # Up to the open-file limit (no fd can lie above it), not 2**16: each close is a system call.
        os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        _set_dumpable(1)  # the program may read and write its own /proc/self, as a fresh process can
        path = os.path.join(WORKDIR, request["dir"])
        os.chdir(path)
        os.environ["HOME"] = path
        for name, (soft, hard) in request["rlimits"].items():
            resource.setrlimit(_RLIMITS[name], (soft, hard))
        sys.argv = ["-c", "main.py"]
        return runner
    except BaseException as exc:  # pylint: disable=broad-exception-caught  # nothing may escape a child
        try:
            os.write(2, f"sandbox: job set-up failed: {exc!r}\n".encode())
        finally:
            os._exit(SETUP_FAILED)


def _zygote(sock: socket.socket, runner: CodeType) -> CodeType:
    """Fork one child per request until the supervisor goes away; returns only in a job child."""
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)  # the app's pipes stay with the supervisor only
    os.dup2(null, 1)
    os.close(null)
    while True:
        try:
            message, fds, _flags, _address = socket.recv_fds(sock, _MESSAGE_BYTES, 2)
        except OSError:
            os._exit(0)
        if not message:
            os._exit(0)
        request = json.loads(message)
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            sock.send(json.dumps({"error": f"fork failed: {exc}"}).encode())
            continue
        if pid == 0:
            return _job_child(sock, request, fds, runner)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        sock.send(json.dumps({"pid": pid, "status": status}).encode())


# --- the supervisor ----------------------------------------------------------------------------------


def _alive_others(keep: set[int]) -> list[int]:
    alive = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in keep:
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in (b"Z", b"X"):
            alive.append(int(name))
    return alive


def sweep(keep: set[int]) -> int:
    """SIGKILL every process of the container but `keep` (and init) until none is left; how many."""
    killed = 0
    deadline = time.monotonic() + _SWEEP_PATIENCE_S
    while True:
        alive = _alive_others(keep | {1})
        if not alive:
            return killed
        if time.monotonic() > deadline:
            raise ServerBroken(f"processes {alive[:5]} survived SIGKILL")
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.002)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o700)  # a program may have left it unreadable or read-only
        for entry in os.scandir(path):
            _remove(entry.path)
        os.rmdir(path)
    else:
        os.unlink(path)


def wipe(modes: dict[str, int]) -> str:
    """Empty the writable places and check their modes; "" when clean, else what is wrong."""
    for place, mode in modes.items():
        try:
            if os.stat(place).st_mode != mode:
                os.chmod(place, mode & 0o7777)
            for entry in os.scandir(place):
                _remove(entry.path)
            if os.listdir(place) or os.stat(place).st_mode != mode:
                return f"{place} could not be restored"
        except OSError as exc:
            return f"{place} could not be wiped: {exc}"
    for kind in ("shm", "msg", "sem"):  # System V IPC objects outlive their creator: start afresh
        try:
            with open(f"/proc/sysvipc/{kind}", encoding="ascii") as handle:
                if len(handle.read().strip().splitlines()) > 1:
                    return f"a System V IPC {kind} object was left behind"
        except OSError:
            continue
    return ""


def _receive(sock: socket.socket, timeout_s: float) -> dict:
    sock.settimeout(timeout_s)
    try:
        message = sock.recv(_MESSAGE_BYTES)
    except OSError as exc:
        raise ServerBroken(f"the zygote did not answer: {exc}") from exc
    if not message:
        raise ServerBroken("the zygote is gone")
    return json.loads(message)


def run_job(job: dict, sock: socket.socket, keep: set[int]) -> dict:
    """Run one job through the zygote; the result as a JSON-ready dict (raises ServerBroken)."""
    start = time.monotonic()
    tails = [Tail(job["output_bytes"]), Tail(job["output_bytes"])]
    read_out, write_out = os.pipe()
    read_err, write_err = os.pipe()
    try:
        socket.send_fds(sock, [json.dumps({"dir": job["dir"], "rlimits": job["rlimits"]}).encode()],
                        [write_out, write_err])
    finally:
        os.close(write_out)
        os.close(write_err)
    reply = _receive(sock, _STATUS_GRACE_S)
    if "error" in reply:
        os.close(read_out)
        os.close(read_err)
        raise ServerBroken(reply["error"])
    pid = reply["pid"]
    deadline = start + job["timeout_s"]
    status: int | None = None
    timed_out = False
    exited_at: float | None = None
    killed = 0
    still_open = {read_out, read_err}
    sock.setblocking(False)
    with selectors.DefaultSelector() as selector:
        selector.register(read_out, selectors.EVENT_READ, 0)
        selector.register(read_err, selectors.EVENT_READ, 1)
        selector.register(sock, selectors.EVENT_READ, None)
        while True:
            now = time.monotonic()
            if exited_at is None and not timed_out and now >= deadline:
                timed_out = True
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)  # the child's own group (it is its session leader)
                killed += sweep(keep)  # and whatever left that group
            if timed_out and exited_at is None and now >= deadline + _STATUS_GRACE_S:
                raise ServerBroken("the zygote did not report the exit of a killed job")
            if exited_at is not None and (not selector.get_map() or now - exited_at > _DRAIN_S):
                break
            for key, _ in selector.select(timeout=_POLL_S):
                if key.data is None:
                    message = sock.recv(_MESSAGE_BYTES)
                    if not message:
                        raise ServerBroken("the zygote is gone")
                    status = json.loads(message)["status"]
                    exited_at = time.monotonic()
                    selector.unregister(sock)
                    # The program is done: whatever it left behind goes now, so pipes it holds close.
                    killed += sweep(keep)
                    continue
                chunk = os.read(key.fd, _CHUNK)
                if chunk:
                    tails[key.data].add(chunk)
                else:
                    selector.unregister(key.fd)
                    os.close(key.fd)
                    still_open.discard(key.fd)
    for fd in still_open:
        os.close(fd)
    sock.setblocking(True)
    killed += sweep(keep)
    assert status is not None and exited_at is not None
    returncode = os.waitstatus_to_exitcode(status)
    return {"id": job["id"], "returncode": returncode, "timed_out": timed_out,
            "duration_s": exited_at - start,
            "stdout": tails[0].text(), "stderr": tails[1].text(), "stdout_bytes": tails[0].total,
            "stderr_bytes": tails[1].total, "leftovers_killed": killed}


def _supervise(sock: socket.socket, zygote: int) -> None:
    keep = {os.getpid(), zygote}
    modes = {place: os.stat(place).st_mode for place in WIPED}
    out = sys.stdout.buffer
    out.write(json.dumps({"ready": True}).encode() + b"\n")
    out.flush()
    for line in sys.stdin.buffer:
        job = json.loads(line)
        result = run_job(job, sock, keep)
        result["dirty"] = wipe(modes)
        out.write(json.dumps(result).encode() + b"\n")
        out.flush()
        if result["dirty"]:
            return


def main() -> CodeType | None:
    """The supervisor's life; returns the runner's code only in a job child, which then executes it."""
    config = json.loads(sys.argv[1])
    runner = compile(config["runner"], "<codetune-runner>", "exec", dont_inherit=True)
    # The runner imports traceback to report a failure; importing it once here, before the zygote is
    # forked, saves every failing job ~20 ms. It holds no state of any job.
    import traceback  # noqa: F401  # pylint: disable=import-outside-toplevel,unused-import
    _set_dumpable(0)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    zygote = os.fork()
    if zygote == 0:
        ours.close()
        return _zygote(theirs, runner)
    theirs.close()
    try:
        _supervise(ours, zygote)
    except ServerBroken as exc:
        sys.stderr.write(f"fork server: {exc}\n")
        sys.stderr.flush()
        os.kill(zygote, signal.SIGKILL)
        os._exit(3)
    os.kill(zygote, signal.SIGKILL)
    return None


def _exit_status(code: object) -> int:
    """The exit status Python gives `raise SystemExit(code)` at top level (printing a non-int code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code if -(1 << 31) <= code < (1 << 31) else 1
    with contextlib.suppress(BaseException):  # as in Python: the status stays 1
        sys.stderr.write(f"{code}\n")
    return 1


def finish_job(runner: CodeType) -> None:
    """In a job child: run the runner harness, then end as Python's own shutdown would.

    A full interpreter shutdown in a forked child costs ~15 ms (it touches every object, copying each
    shared page); what a program can observe of it is done here instead, in Python's order: the
    exit status from SystemExit, joining non-daemon threads, atexit handlers, flushing stdout / stderr
    (status 120 when that fails). Objects' __del__ methods are not run at exit.
    """
    status = 0
    try:
        exec(runner, {"__name__": "__codetune_runner__", "__builtins__": __builtins__})  # pylint: disable=exec-used
    except SystemExit as exc:
        status = _exit_status(exc.code)
    try:
        threading = sys.modules.get("threading")
        if threading is not None:
            threading._shutdown()  # pylint: disable=protected-access  # what Py_FinalizeEx calls
        import atexit  # pylint: disable=import-outside-toplevel

        atexit._run_exitfuncs()  # pylint: disable=protected-access
    except BaseException:  # pylint: disable=broad-exception-caught  # the program's own doing
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # pylint: disable=broad-exception-caught
            status = 120
    os._exit(status & 0xFF)


if __name__ == "__main__":
    _JOB = main()
    if _JOB is not None:
        finish_job(_JOB)  # the job child; it never returns
