"""Per-language recipes: which files a program becomes, how it is compiled and run, how exits read.

Each runtime gets a small trusted harness next to the untrusted source that turns "how did it end"
into an exit status, because the runtimes alone do not make that reliable:

python  a runner execs the script in a fresh __main__: AssertionError -> 101, MemoryError -> 103,
        SyntaxError / undecodable source -> 104, OSError EFBIG (RLIMIT_FSIZE; Python ignores SIGXFSZ)
        -> 105, any other exception -> 102 (tracebacks as usual).
java    CodetuneSandboxLauncher calls <class>.main by reflection: AssertionError -> 101, OutOfMemoryError
        -> 103, other throwable -> 102, no main -> 104. javac also runs in the sandbox (the source is
        untrusted) with -proc:none so no annotation processor is ever loaded.
csharp  mono ignores a failed Debug.Assert unless a listener acts on it (checked: with the default
        listener the program prints nothing and exits 0), so the harness replaces the trace listeners
        with one that exits 101 and becomes the entry point (mcs -main:) that calls the program's
        Main; exceptions -> 102, OutOfMemoryException -> 103. Compiled with -d:DEBUG so asserts exist.

Memory: Python gets RLIMIT_AS = RLIMIT_DATA = memory_mb. The JVM reserves ~1 GiB of address space
before running a line (class space, code cache, heap reservation), so it gets -Xmx<memory_mb>,
RLIMIT_DATA = memory_mb + 512 MiB (committed runtime memory: metaspace, JIT, thread stacks) and
RLIMIT_AS = memory_mb + 3 GiB (reservations, which cost nothing until written). mono gets its GC heap
capped at memory_mb, RLIMIT_DATA = memory_mb + 256 MiB and RLIMIT_AS = memory_mb + 2 GiB.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
from dataclasses import dataclass, field

from engine.scoring.sandbox.isolation import RLimits, python_interpreter
from engine.scoring.sandbox.model import Limits, Program, Status
from engine.scoring.sandbox.process import PhaseResult

MIB = 1 << 20

EXIT_ASSERTION = 101
EXIT_EXCEPTION = 102
EXIT_MEMORY = 103
EXIT_NOT_RUNNABLE = 104
EXIT_FILE_SIZE = 105

PYTHON_RUNNER = """\
import os, sys

def _codetune_exit(code):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code)

def _codetune_report(exc, skip_runner_frame=True):
    # traceback is imported only here: it costs more start-up time than a typical test takes.
    try:
        import traceback
        tb = exc.__traceback__
        if skip_runner_frame and tb is not None:
            tb = tb.tb_next  # start in the program, as `python main.py` would
        traceback.print_exception(type(exc), exc, tb)
    except BaseException:
        pass

def _codetune_main():
    import builtins
    for name in ("exit", "quit"):  # what the skipped site module would have provided
        if not hasattr(builtins, name):
            setattr(builtins, name, sys.exit)
    path = sys.argv[1]
    sys.argv = sys.argv[1:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    try:
        with open(path, "rb") as handle:
            code = compile(handle.read(), path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, UnicodeDecodeError) as exc:
        _codetune_report(exc, skip_runner_frame=False)
        _codetune_exit(104)
    module = type(sys)("__main__")
    module.__file__ = path
    module.__builtins__ = __builtins__
    sys.modules["__main__"] = module
    try:
        exec(code, module.__dict__)
    except SystemExit:
        raise
    except AssertionError as exc:
        _codetune_report(exc)
        _codetune_exit(101)
    except OSError as exc:
        _codetune_report(exc)
        _codetune_exit(105 if exc.errno == 27 else 102)  # 27: EFBIG
    except MemoryError:
        try:
            sys.stderr.write("MemoryError: the program exceeded its memory limit\\n")
        except BaseException:
            pass
        _codetune_exit(103)
    except BaseException as exc:
        _codetune_report(exc)
        _codetune_exit(102)

_codetune_main()
"""

JAVA_LAUNCHER_CLASS = "CodetuneSandboxLauncher"
JAVA_LAUNCHER = """\
public final class CodetuneSandboxLauncher {
    private CodetuneSandboxLauncher() {
    }

    private static void end(int status) {
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(status);
    }

    public static void main(String[] args) throws Exception {
        java.lang.reflect.Method entry;
        try {
            entry = Class.forName(args[0]).getMethod("main", String[].class);
        } catch (ReflectiveOperationException | LinkageError e) {
            System.err.println("sandbox: no public static void main(String[]) in class " + args[0]
                + ": " + e);
            end(104);
            return;
        }
        try {
            entry.invoke(null, (Object) new String[0]);
        } catch (java.lang.reflect.InvocationTargetException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            // Drop the reflection frames below the program's main from the report.
            StackTraceElement[] frames = cause.getStackTrace();
            int keep = frames.length;
            for (int i = 0; i < frames.length; i++) {
                String owner = frames[i].getClassName();
                if (owner.startsWith("jdk.internal.reflect.") || owner.startsWith("java.lang.reflect.")) {
                    keep = i;
                    break;
                }
            }
            cause.setStackTrace(java.util.Arrays.copyOf(frames, keep));
            System.out.flush();
            System.err.print("Exception in thread \\"main\\" ");
            cause.printStackTrace();
            end(cause instanceof AssertionError ? 101 : cause instanceof OutOfMemoryError ? 103 : 102);
        }
    }
}
"""

CSHARP_HARNESS = """\
using System;
using System.Diagnostics;
using System.Reflection;

sealed class CodetuneSandboxAssertListener : TraceListener {
    public override void Write(string message) { }
    public override void WriteLine(string message) { }
    public override void Fail(string message) { Fail(message, null); }
    public override void Fail(string message, string detail) {
        Console.Out.Flush();
        string text = ((message ?? "") + " " + (detail ?? "")).Trim();
        string frames = "";
        string where = "";
        foreach (StackFrame frame in new StackTrace(1, true).GetFrames()) {
            MethodBase method = frame.GetMethod();
            Type owner = method == null ? null : method.DeclaringType;
            if (owner == null || owner == typeof(CodetuneSandboxAssertListener)) continue;
            if (owner == typeof(CodetuneSandboxEntry)) break;
            if (owner.Namespace != null && owner.Namespace.StartsWith("System")) continue;
            if (where == "") where = " in " + owner.FullName + "." + method.Name;
            frames += "  at " + owner.FullName + "." + method.Name + Environment.NewLine;
        }
        Console.Error.WriteLine("Debug.Assert failed" + where + (text == "" ? "" : ": " + text));
        Console.Error.Write(frames);
        Console.Error.Flush();
        Environment.Exit(101);
    }
}

static class CodetuneSandboxEntry {
    static int Main(string[] args) {
        Trace.Listeners.Clear();
        Trace.Listeners.Add(new CodetuneSandboxAssertListener());
        MethodInfo entry = null;
        foreach (Type type in typeof(CodetuneSandboxEntry).Assembly.GetTypes()) {
            if (type == typeof(CodetuneSandboxEntry)) continue;
            MethodInfo method = type.GetMethod("Main",
                BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic);
            if (method != null && (entry == null || type.Name == "Problem")) entry = method;
        }
        if (entry == null) {
            Console.Error.WriteLine("sandbox: no static Main method found");
            return 104;
        }
        try {
            object[] arguments = entry.GetParameters().Length == 0
                ? new object[0] : new object[] { new string[0] };
            object result = entry.Invoke(null, arguments);
            Console.Out.Flush();
            return result is int ? (int) result : 0;
        } catch (TargetInvocationException e) {
            Exception inner = e.InnerException ?? e;
            Console.Out.Flush();
            Console.Error.WriteLine("Unhandled Exception: " + inner);
            Console.Error.Flush();
            return inner is OutOfMemoryException ? 103 : 102;
        }
    }
}
"""

_JVM_FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=2", "-XX:-UsePerfData",
              "-Xshare:auto", "-Xms8m")
# How bwrap, setpriv, prlimit and unshare start their own error messages (the program never ran).
_WRAPPER_ERRORS = ("bwrap: ", "setpriv: ", "prlimit: ", "unshare: ")
_PUBLIC_CLASS = re.compile(r"^\s*public\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_$][\w$]*)", re.MULTILINE)


@dataclass(frozen=True)
class Phase:
    """One sandboxed command of a run (compile or run)."""

    name: str
    command: list[str]
    timeout_s: float
    rlimits: RLimits
    extra_env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipe:
    """The files to write into the work dir and the phases to run there, in order."""

    files: dict[str, bytes]
    phases: list[Phase]


@dataclass(frozen=True)
class Verdict:
    """The status of a finished run and the one-line reason for it."""

    status: Status
    reason: str


@functools.lru_cache(maxsize=8)
def tool(name: str) -> str | None:
    """The real path of a toolchain binary (resolving /etc/alternatives links) or None."""
    found = shutil.which(name)
    return os.path.realpath(found) if found else None


def encode_source(source: str) -> bytes:
    """The bytes written for a source text (never raises, whatever the text holds)."""
    # surrogatepass: a str holding lone surrogates (garbage decoded with surrogateescape) still
    # becomes bytes; the compiler then reports it instead of us raising.
    return source.encode("utf-8", errors="surrogatepass")


def _rlimits(limits: Limits, wall_s: float, data_mb: int, as_mb: int) -> RLimits:
    return RLimits(cpu_s=limits.effective_cpu_s(wall_s), data_bytes=data_mb * MIB,
                   address_space_bytes=as_mb * MIB, file_size_bytes=limits.file_size_mb * MIB,
                   processes=limits.max_processes, open_files=limits.max_open_files)


def java_class_name(source: str) -> str:
    """The public class of a Java source (javac wants it in <name>.java); Main when there is none."""
    match = _PUBLIC_CLASS.search(source)
    return match.group(1) if match else "Main"


def recipe(program: Program) -> Recipe:
    """Files and phases for program; raises LookupError naming a missing toolchain binary."""
    limits = program.effective_limits
    memory = limits.memory_mb
    source = encode_source(program.source)
    if program.language == "python":
        rl = _rlimits(limits, limits.timeout_s, memory, memory)
        # -S: no site module. It would run the host's .pth hooks (one here costs 50 ms per start) and
        # add site-packages; HumanEval / MBPP need only the standard library.
        command = [python_interpreter(), "-S", "-B", "-c", PYTHON_RUNNER, "main.py"]
        env = {"PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1"}
        return Recipe({"main.py": source}, [Phase("run", command, limits.timeout_s, rl, env)])
    if program.language == "java":
        javac, java = tool("javac"), tool("java")
        if javac is None or java is None:
            raise LookupError("javac and java (JDK 17) are needed for Java programs: "
                              "apt-get install openjdk-17-jdk-headless")
        name = java_class_name(program.source)
        heap = [f"-Xmx{memory}m"]
        compile_rl = _rlimits(limits, limits.compile_timeout_s, memory + 512, memory + 3072)
        run_rl = _rlimits(limits, limits.timeout_s, memory + 512, memory + 3072)
        compile_cmd = [javac, *(f"-J{flag}" for flag in (*_JVM_FLAGS, *heap)), "-proc:none", "-encoding",
                       "UTF-8", "-nowarn", "-d", ".", f"{name}.java", f"{JAVA_LAUNCHER_CLASS}.java"]
        run_cmd = [java, *_JVM_FLAGS, *heap, "-ea", "-cp", ".", JAVA_LAUNCHER_CLASS, name]
        files = {f"{name}.java": source, f"{JAVA_LAUNCHER_CLASS}.java": JAVA_LAUNCHER.encode()}
        return Recipe(files, [Phase("compile", compile_cmd, limits.compile_timeout_s, compile_rl),
                              Phase("run", run_cmd, limits.timeout_s, run_rl)])
    mcs, mono = tool("mcs"), tool("mono")
    if mcs is None or mono is None:
        raise LookupError("mcs and mono are needed for C# programs: apt-get install mono-mcs mono-runtime")
    env = {"MONO_GC_PARAMS": f"max-heap-size={memory}m"}
    compile_rl = _rlimits(limits, limits.compile_timeout_s, memory + 256, memory + 2048)
    run_rl = _rlimits(limits, limits.timeout_s, memory + 256, memory + 2048)
    compile_cmd = [mcs, "-d:DEBUG", "-r:System.Numerics.dll", "-main:CodetuneSandboxEntry",
                   "-out:program.exe", "Program.cs", "CodetuneSandboxHarness.cs"]
    run_cmd = [mono, "program.exe"]
    files = {"Program.cs": source, "CodetuneSandboxHarness.cs": CSHARP_HARNESS.encode()}
    return Recipe(files, [Phase("compile", compile_cmd, limits.compile_timeout_s, compile_rl, env),
                          Phase("run", run_cmd, limits.timeout_s, run_rl, env)])


def signal_of(returncode: int | None, *, through_bwrap: bool) -> int | None:
    """The signal that ended the program, if any (bwrap reports a child's death by signal as 128+N)."""
    if returncode is None:
        return None
    if returncode < 0:
        return -returncode
    if through_bwrap and returncode > 128 and (returncode - 128) in signal.valid_signals():
        return returncode - 128
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str:
    for line in reversed(text.strip().splitlines()):
        if line.strip():
            return line.strip()[:300]
    return ""


def _exception_line(language: str, stderr: str) -> str:
    """The most telling line of an exception report, for the reason text."""
    if language == "python":
        return _last_line(stderr)
    patterns = {"java": r'Exception in thread "main" (\S.*)',
                "csharp": r"(?:Unhandled Exception: |(?=Debug\.Assert failed))(\S.*)"}
    found = re.findall(patterns.get(language, r"(\S.*)"), stderr)
    return found[-1].strip()[:300] if found else _last_line(stderr)


def _killed(sig: int, phase: str, limits: Limits, wall_s: float) -> Verdict:
    name = _signal_name(sig)
    cpu = limits.effective_cpu_s(wall_s)
    if sig == signal.SIGXCPU:
        return Verdict("timeout", f"{phase}: CPU time limit of {cpu} s exceeded ({name})")
    if sig == signal.SIGXFSZ:
        return Verdict("violation",
                       f"{phase}: file size limit of {limits.file_size_mb} MiB exceeded ({name})")
    if sig == signal.SIGKILL:
        return Verdict("timeout", f"{phase}: killed by SIGKILL (CPU hard limit of {cpu + 2} s, or the "
                                  "kernel's out-of-memory killer)")
    return Verdict("error", f"{phase}: killed by {name}")


def verdict(program: Program, phase: Phase, result: PhaseResult, *, through_bwrap: bool) -> Verdict | None:
    """How a finished phase reads; None for a compile phase that succeeded (go on to run)."""
    limits = program.effective_limits
    language = program.language
    if result.spawn_error:
        return Verdict("error", result.spawn_error)
    if result.timed_out:
        return Verdict("timeout", f"{phase.name}: wall-clock limit of {phase.timeout_s:g} s exceeded; "
                                  "the whole process tree was killed")
    sig = signal_of(result.returncode, through_bwrap=through_bwrap)
    if sig is not None:
        return _killed(sig, phase.name, limits, phase.timeout_s)
    code = result.returncode
    output = result.stderr + "\n" + result.stdout
    first = result.stderr.lstrip().partition("\n")[0]
    if code != 0 and first.startswith(_WRAPPER_ERRORS):
        return Verdict("error", f"{phase.name}: sandbox set-up failed: {first[:300]}")
    if language == "java" and code != 0 and ("Error occurred during initialization of VM" in output
                                             or "insufficient memory for the Java Runtime" in output):
        return Verdict("error", f"{phase.name}: the JVM could not start within the limits: "
                                f"{_last_line(output)}")
    if phase.name == "compile":
        if code == 0:
            return None
        compiler = "javac" if language == "java" else "mcs"
        errors = re.findall(r"(?m)^.*(?:error:|error CS\d+).*$", output)
        detail = errors[0].strip()[:300] if errors else _last_line(output)
        return Verdict("compile_error", f"{compiler} failed (exit {code}): {detail}")
    if code == 0:
        return Verdict("passed", "exited with status 0")
    if code == EXIT_ASSERTION:
        kind = {"python": "AssertionError", "java": "AssertionError", "csharp": "Debug.Assert failed"}
        line = _exception_line(language, result.stderr)
        if line.startswith(kind[language]):
            return Verdict("failed", line)
        return Verdict("failed", f"{kind[language]}: {line}" if line else kind[language])
    if code == EXIT_MEMORY:
        line = _exception_line(language, result.stderr)
        if "native thread" in line:  # the JVM reports running out of threads as an OutOfMemoryError
            return Verdict("violation", f"process/thread limit of {limits.max_processes} or memory limit "
                                        f"exceeded: {line}")
        return Verdict("violation", f"memory limit of {limits.memory_mb} MiB exceeded: {line}")
    if code == EXIT_FILE_SIZE:
        return Verdict("violation", f"file size limit of {limits.file_size_mb} MiB exceeded: "
                                    f"{_exception_line(language, result.stderr)}")
    if code == EXIT_NOT_RUNNABLE:
        return Verdict("error", f"not runnable: {_exception_line(language, result.stderr)}")
    if code == EXIT_EXCEPTION:
        return Verdict("error", f"uncaught exception: {_exception_line(language, result.stderr)}")
    return Verdict("failed", f"exited with status {code}")
