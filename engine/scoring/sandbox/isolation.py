"""How a sandboxed command is confined on this machine: detection, command wrapping and clean-up.

Forms, strongest first (detected at run time by running `true` through each, cached per process):

bwrap       bubblewrap, unprivileged, in new user/pid/net/ipc/uts(/cgroup) namespaces; the sandbox sees
            a read-only /usr (+ the /bin, /lib symlinks and a few /etc entries the runtimes need), a
            fresh /proc and /dev, a small private tmpfs /tmp and its work dir at /sandbox, the only
            writable place. --die-with-parent + the pid namespace mean that killing bwrap kills every
            process of the run, including ones that called setsid(). --disable-userns forbids nested
            namespaces.
bwrap-root  the same file-system view when bwrap must run privileged (no unprivileged user namespaces
            on the machine but we are root); setpriv drops to the run's uid inside.
unshare     util-linux unshare: new pid/net/ipc/uts namespaces, no file-system isolation (the program
            sees the host's files with the rights of the run's uid). The program is its namespace's
            pid 1, so signals it sends itself without installing a handler are ignored.
none        no namespaces: process group, rlimits and (as root) a throw-away uid only. The network is
            NOT isolated; Outcome.isolation says so.

Every form, when we are root, runs the program under its own throw-away uid (randomly drawn from
[1e9, 2e9), which no account uses). That is what makes RLIMIT_NPROC bite (the kernel does not enforce it
for uid 0) and it gives a certain clean-up: after the run every process owned by that uid is killed.

Resource limits are set with prlimit(1) right before the program is exec'd (a Python shim where prlimit
is missing), inside the namespaces, so bwrap itself is not constrained by them.
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import os
import resource
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Literal

Mode = Literal["bwrap", "bwrap-root", "unshare", "none"]
MODES: tuple[Mode, ...] = ("bwrap", "bwrap-root", "unshare", "none")

SANDBOX_DIR = "/sandbox"
UID_RANGE = (1_000_000_000, 2_000_000_000)
PROBE_TIMEOUT_S = 60.0

# /etc entries the runtimes read (dynamic loader, JVM and mono configuration, time zone). Nothing else
# of /etc is visible: it may hold credentials (pip.conf, npmrc, gitconfig).
_ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "mono", "localtime",
                "nsswitch.conf", "host.conf")
_ETC_GLOBS = ("java-*-openjdk",)
_ROOT_LINKS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")

_RLIMIT_SHIM = """\
import os, resource, sys
names = {"cpu": resource.RLIMIT_CPU, "as": resource.RLIMIT_AS, "data": resource.RLIMIT_DATA,
         "fsize": resource.RLIMIT_FSIZE, "nproc": resource.RLIMIT_NPROC, "nofile": resource.RLIMIT_NOFILE,
         "core": resource.RLIMIT_CORE}
argv = sys.argv[1:]
while argv[0] != "--":
    name, _, value = argv.pop(0).lstrip("-").partition("=")
    soft, _, hard = value.partition(":")
    resource.setrlimit(names[name], (int(soft), int(hard or soft)))
os.execvp(argv[1], argv[1:])
"""


class IsolationProbeError(RuntimeError):
    """The probe of an isolation form did not finish; nothing is cached, the next run probes again."""


@dataclass(frozen=True)
class RLimits:
    """The rlimits of one phase, in the units prlimit takes (seconds, bytes, counts)."""

    cpu_s: int
    data_bytes: int
    address_space_bytes: int
    file_size_bytes: int
    processes: int
    open_files: int

    def prlimit_options(self) -> list[str]:
        """The limits as prlimit(1) options (the Python shim reads the same)."""
        # The hard CPU limit sits 2 s above the soft one: SIGXCPU first (reported as a CPU time-out),
        # SIGKILL for a program that catches it.
        return [
            f"--cpu={self.cpu_s}:{self.cpu_s + 2}",  # hard limit: see clamped()
            f"--data={self.data_bytes}",
            f"--as={self.address_space_bytes}",
            f"--fsize={self.file_size_bytes}",
            f"--nproc={self.processes}",
            f"--nofile={self.open_files}",
            "--core=0",
        ]

    def clamped(self) -> RLimits:
        """These limits lowered to this process's hard limits, which only root may raise."""

        def cap(kind: int, value: int, headroom: int = 0) -> int:
            hard = resource.getrlimit(kind)[1]
            return value if hard == resource.RLIM_INFINITY else max(1, min(value, hard - headroom))

        return RLimits(
            cpu_s=cap(resource.RLIMIT_CPU, self.cpu_s, headroom=2),
            data_bytes=cap(resource.RLIMIT_DATA, self.data_bytes),
            address_space_bytes=cap(resource.RLIMIT_AS, self.address_space_bytes),
            file_size_bytes=cap(resource.RLIMIT_FSIZE, self.file_size_bytes),
            processes=cap(resource.RLIMIT_NPROC, self.processes),
            open_files=cap(resource.RLIMIT_NOFILE, self.open_files),
        )


@dataclass(frozen=True)
class IsolationInfo:
    """What one isolation form gives; describe() is the text stored in Outcome.isolation."""

    mode: Mode
    network: bool
    pid_namespace: bool
    filesystem: bool
    per_run_uid: bool
    rlimit_tool: str
    note: str = ""

    @property
    def reduced(self) -> bool:
        """True unless network, pid and file-system isolation are all present."""
        return not (self.network and self.pid_namespace and self.filesystem)

    def describe(self) -> str:
        """One line for Outcome.isolation; starts with "REDUCED isolation" when reduced."""
        parts = [self.mode]
        parts.append("network isolated" if self.network else "network NOT isolated")
        parts.append("pid namespace" if self.pid_namespace else "no pid namespace")
        parts.append("read-only system view, writes only to its work dir" if self.filesystem
                     else "host file system visible")
        parts.append("throw-away uid" if self.per_run_uid else "caller's uid")
        parts.append(f"rlimits via {self.rlimit_tool}")
        text = "; ".join(parts)
        if self.reduced:
            text = "REDUCED isolation: " + text
        return text + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class Launch:
    """Everything subprocess.Popen needs to start one phase of a run."""

    argv: tuple[str, ...]
    cwd: str
    env: dict[str, str]
    user: int | None
    workdir_view: str


def is_root() -> bool:
    """Whether we may switch to a throw-away uid (effective uid 0)."""
    return os.geteuid() == 0


def draw_uid() -> int | None:
    """A fresh uid for one run when we may switch uids (root), else None."""
    if not is_root():
        return None
    low, high = UID_RANGE
    return low + secrets.randbelow(high - low)


@functools.lru_cache(maxsize=1)
def _tools() -> dict[str, str | None]:
    return {name: shutil.which(name) for name in ("bwrap", "unshare", "setpriv", "prlimit", "true")}


def _world_accessible(path: str) -> bool:
    """True when every directory above path is world-searchable and path is world-readable."""
    real = os.path.realpath(path)
    try:
        if not os.stat(real).st_mode & stat.S_IROTH:
            return False
        parent = os.path.dirname(real)
        while True:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
            if parent == "/":
                return True
            parent = os.path.dirname(parent)
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def python_interpreter() -> str:
    """The Python that runs sandboxed programs: ours when another uid can run it, else the system one.

    A venv or pyenv under /root (mode 0700) cannot be executed by the run's uid, so the system
    python3 takes over there; both are CPython 3.11 on our machines.
    """
    candidates = [sys.executable, getattr(sys, "_base_executable", ""), "/usr/bin/python3",
                  "/usr/local/bin/python3", shutil.which("python3") or ""]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and (not is_root() or _world_accessible(candidate)):
            return os.path.realpath(candidate)
    return os.path.realpath(sys.executable)


def _extra_read_only(paths: list[str]) -> list[str]:
    """Installation prefixes outside /usr that the sandboxed tools live in (bound read-only)."""
    extra: list[str] = []
    for path in paths:
        real = os.path.realpath(path)
        if real.startswith("/usr/"):
            continue
        prefix = os.path.dirname(os.path.dirname(real))  # <prefix>/bin/tool -> <prefix>
        if prefix not in ("", "/") and prefix not in extra:
            extra.append(prefix)
    return extra


def _bwrap_prefix(mode: Mode, workdir: str, env: dict[str, str], tmp_bytes: int,
                  tool_paths: list[str]) -> list[str]:
    bwrap = _tools()["bwrap"] or "bwrap"
    args = [bwrap, "--die-with-parent", "--new-session"]
    if mode == "bwrap":
        args += ["--unshare-all", "--unshare-user", "--disable-userns"]
    else:
        # Privileged bwrap: no user namespace (setpriv must switch to the run's uid, which a user
        # namespace would not map); keep only the capabilities setpriv needs to do that, plus
        # DAC_OVERRIDE to enter the run's 0700 work dir. setpriv drops them all before the program.
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                 "--cap-add", "CAP_SETPCAP", "--cap-add", "CAP_DAC_OVERRIDE"]
    # Explicit modes: bwrap would create these with the caller's umask, and in the privileged form
    # (root-owned) a 0700 /etc or /tmp would lock the run's uid out.
    args += ["--hostname", "sandbox", "--perms", "0755", "--dir", "/etc", "--ro-bind", "/usr", "/usr"]
    for name in _ROOT_LINKS:
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    etc = [f"/etc/{name}" for name in _ETC_ENTRIES]
    for pattern in _ETC_GLOBS:
        etc += sorted(glob.glob(f"/etc/{pattern}"))
    for path in etc:
        args += ["--ro-bind-try", path, path]
    for path in _extra_read_only(tool_paths):
        args += ["--ro-bind", path, path]
    # Writable places are only the work dir and two small size-capped tmpfs (/tmp, /dev/shm): the
    # root tmpfs bwrap builds on and /dev are remounted read-only, or writing there would fill RAM.
    args += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/tmp",
             "--perms", "1777", "--size", str(tmp_bytes), "--tmpfs", "/dev/shm",
             "--bind", workdir, SANDBOX_DIR,
             "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", SANDBOX_DIR, "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return [*args, "--"]


def _setpriv_prefix(uid: int) -> list[str]:
    setpriv = _tools()["setpriv"] or "setpriv"
    return [setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all", "--"]


def _rlimit_prefix(rlimits: RLimits, use_prlimit: bool) -> list[str]:
    if use_prlimit:
        return [_tools()["prlimit"] or "prlimit", *rlimits.prlimit_options(), "--"]
    return [python_interpreter(), "-I", "-S", "-c", _RLIMIT_SHIM, *rlimits.prlimit_options(), "--"]


def base_env(workdir_view: str, tmp_view: str) -> dict[str, str]:
    """The whole environment of a sandboxed program: nothing is inherited from the caller."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir_view,
        "TMPDIR": tmp_view,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def build_launch(info: IsolationInfo, *, workdir: str, command: list[str], rlimits: RLimits,
                 uid: int | None, extra_env: dict[str, str] | None = None,
                 tmp_bytes: int = 64 << 20) -> Launch:
    """Wrap command (relative paths resolve in the work dir) in this form's isolation and rlimits."""
    in_bwrap = info.mode in ("bwrap", "bwrap-root")
    view = SANDBOX_DIR if in_bwrap else workdir
    env = base_env(view, "/tmp" if in_bwrap else workdir) | (extra_env or {})
    limits = _rlimit_prefix(rlimits if is_root() else rlimits.clamped(), info.rlimit_tool == "prlimit")
    tool_paths = command[:1] if info.rlimit_tool == "prlimit" else [limits[0], *command[:1]]
    user: int | None = None
    if info.mode == "bwrap":
        user = uid
        argv = _bwrap_prefix("bwrap", workdir, env, tmp_bytes, tool_paths) + limits + command
    elif info.mode == "bwrap-root":
        drop = _setpriv_prefix(uid) if uid is not None else []
        argv = _bwrap_prefix("bwrap-root", workdir, env, tmp_bytes, tool_paths) + drop + limits + command
    elif info.mode == "unshare":
        unshare = [_tools()["unshare"] or "unshare", "--net", "--pid", "--ipc", "--uts", "--fork",
                   "--kill-child"]
        if uid is not None:
            argv = [*unshare, "--", *_setpriv_prefix(uid), *limits, *command]
        else:
            argv = [unshare[0], "--user", *unshare[1:], "--", *limits, *command]
    else:
        user = uid
        argv = limits + command
    return Launch(argv=tuple(argv), cwd="/" if in_bwrap else workdir, env=env, user=user, workdir_view=view)


def kill_uid(uid: int, *, patience_s: float = 10.0) -> int:
    """SIGKILL every process owned by uid until none is left (zombies aside); returns how many."""
    killed = 0
    deadline = time.monotonic() + patience_s
    while True:
        alive = []
        try:
            entries = list(os.scandir("/proc"))
        except OSError:
            return killed
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    state = handle.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in (b"Z", b"X"):
                alive.append(int(entry.name))
        if not alive or time.monotonic() > deadline:
            return killed
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.002)


def _probe(info: IsolationInfo) -> str:
    """Run `true` in this form (under a throw-away uid where we switch); "" if it worked, else why not."""
    import tempfile

    true = _tools()["true"]
    if true is None:
        return "no `true` binary to probe with"
    uid = draw_uid() if info.per_run_uid else None
    workdir = tempfile.mkdtemp(prefix="codetune-sandbox-probe-")
    try:
        if uid is not None:
            os.chown(workdir, uid, uid)
        rlimits = RLimits(cpu_s=10, data_bytes=256 << 20, address_space_bytes=1 << 30,
                          file_size_bytes=1 << 20, processes=16, open_files=64)
        launch = build_launch(info, workdir=workdir, command=[true], rlimits=rlimits, uid=uid)
        try:
            done = subprocess.run(launch.argv, cwd=launch.cwd, env=launch.env, user=launch.user,
                                  group=launch.user, extra_groups=[] if launch.user is not None else None,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, start_new_session=True,
                                  timeout=PROBE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise IsolationProbeError(f"probing isolation form {info.mode!r} took over "
                                      f"{PROBE_TIMEOUT_S:.0f} s") from exc
        except OSError as exc:
            return str(exc)
        if done.returncode == 0:
            return ""
        message = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
        return (message[-1] if message else f"exit status {done.returncode}")[:200]
    finally:
        if uid is not None:
            kill_uid(uid)
        shutil.rmtree(workdir, ignore_errors=True)


def _candidate(mode: Mode) -> IsolationInfo | None:
    tools = _tools()
    root = is_root()
    rlimit_tool = "prlimit" if tools["prlimit"] else "python"
    if mode == "bwrap":
        if not tools["bwrap"]:
            return None
        return IsolationInfo("bwrap", True, True, True, root, rlimit_tool)
    if mode == "bwrap-root":
        if not (tools["bwrap"] and root and tools["setpriv"]):
            return None
        return IsolationInfo("bwrap-root", True, True, True, True, rlimit_tool)
    if mode == "unshare":
        if not tools["unshare"] or (root and not tools["setpriv"]):
            return None
        return IsolationInfo("unshare", True, True, False, root, rlimit_tool)
    return IsolationInfo("none", False, False, False, root, rlimit_tool)


@functools.lru_cache(maxsize=len(MODES))
def probe_mode(mode: Mode) -> tuple[IsolationInfo | None, str]:
    """(IsolationInfo, "") when mode works on this machine, else (None, why not); cached per mode."""
    info = _candidate(mode)
    if info is None:
        return None, "not installed" if mode != "bwrap-root" else "needs root, bwrap and setpriv"
    if mode == "none":
        return info, ""
    failure = _probe(info)
    return (None, failure) if failure else (info, "")


def detect(requested: str = "auto") -> IsolationInfo:
    """The strongest working form ("auto"), or exactly the requested one (ValueError if unusable)."""
    if requested != "auto":
        if requested not in MODES:
            raise ValueError(f"unknown isolation {requested!r}; choose auto or one of {', '.join(MODES)}")
        info, failure = probe_mode(requested)  # type: ignore[arg-type]
        if info is None:
            raise ValueError(f"isolation {requested!r} does not work on this machine: {failure}")
        return info
    failures = []
    for mode in MODES:
        info, failure = probe_mode(mode)
        if info is not None:
            if info.reduced and failures:
                return dataclasses.replace(info, note="; ".join(failures))
            return info
        failures.append(f"{mode}: {failure}")
    raise AssertionError("the 'none' form always works")  # pragma: no cover
