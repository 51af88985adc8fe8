"""javac -Xlint:all (Java): compiler errors and lint warnings, many samples in one JVM.

Samples cannot share one javac call (they all declare `Solution`, `Main`, ...), and one javac process
per sample pays a JVM start each. So a small helper program (BATCH_JAVAC below, run with the `java`
source launcher) compiles each sample as its own compilation task inside one JVM through
javax.tools, with `-Xlint:all -proc:none` (no annotation processors: nothing of the sample runs),
and prints one tab-separated line per diagnostic. If the JVM dies or times out, the sample it was
compiling is `failed` and the helper restarts on the samples after it.

Findings: rule_id = the -Xlint key for lint warnings (rawtypes, unchecked, serial, ...), else javac's
diagnostic code without "compiler." (err.cant.resolve.location); category "lint" (lint warnings),
"compile-error", "compiler-warning" or "note"; severity error/warning/info. Compile errors (syntax
included) are findings: status ok. Findings on lines a wrapper added are dropped unless errors.
Measures: findings, findings_<severity>, compiled (1 when javac produced class files, else 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from engine.scoring.quality.base import (
    SEVERITY_MEASURES,
    Analyser,
    AnalyserUnavailable,
    failed,
    join_details,
    ok,
    resolve_program,
    run_command,
    severity_measures,
    tool_env,
)
from engine.scoring.quality.model import Finding, QualityConfig, Sample, ToolResult
from engine.scoring.quality.prepare import SourceUnit, write_java_units

NAME = "javac"
INSTALL_HINT = (
    "install a JDK with `apt-get install --no-install-recommends default-jdk-headless` (make system)"
)
# Restarts of the helper after a JVM death before the remaining samples are given up on.
MAX_RESTARTS = 5

BATCH_JAVAC = r"""
import javax.tools.*;
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.regex.*;

/** Compiles each argument (a .java file) as its own task; prints D/E/X lines (tab-separated). */
public class BatchJavac {
    static final Pattern LINT = Pattern.compile("\\[([\\w-]+)\\] $");

    static String esc(String s) {
        if (s == null) return "";
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r");
    }

    static String lintKey(Diagnostic<?> d, String message) {
        String full = String.valueOf(d);
        int nl = full.indexOf('\n');
        String first = nl < 0 ? full : full.substring(0, nl);
        int mnl = message.indexOf('\n');
        String head = mnl < 0 ? message : message.substring(0, mnl);
        if (!first.endsWith(head)) return "";
        Matcher m = LINT.matcher(first.substring(0, first.length() - head.length()));
        return m.find() ? m.group(1) : "";
    }

    public static void main(String[] args) throws Exception {
        JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        StandardJavaFileManager fm = null;
        for (int i = 0; i < args.length; i++) {
            out.println("S\t" + i);
            try {
                File src = new File(args[i]);
                File classes = new File(src.getParentFile(), "classes");
                classes.mkdirs();
                DiagnosticCollector<JavaFileObject> diags = new DiagnosticCollector<>();
                // One file manager for all tasks (each sets its own -d/-cp/-sourcepath): it
                // caches the JDK's own classes, a quarter of the time per sample.
                if (fm == null) {
                    fm = compiler.getStandardFileManager(null, Locale.ROOT, StandardCharsets.UTF_8);
                }
                List<String> opts = Arrays.asList("-Xlint:all", "-proc:none", "-implicit:none",
                    "-encoding", "UTF-8", "-d", classes.getPath(), "-cp", classes.getPath(),
                    "-sourcepath", src.getParentFile().getPath());
                StringWriter extra = new StringWriter();
                Boolean ok =
                    compiler.getTask(extra, fm, diags, opts, null, fm.getJavaFileObjects(src)).call();
                for (Diagnostic<? extends JavaFileObject> d : diags.getDiagnostics()) {
                    String message = d.getMessage(Locale.ROOT);
                    out.println("D\t" + i + "\t" + d.getKind() + "\t" + d.getLineNumber() + "\t"
                        + esc(d.getCode()) + "\t" + lintKey(d, message) + "\t" + esc(message));
                }
                out.println("E\t" + i + "\t" + ok + "\t" + esc(extra.toString()));
            } catch (Throwable t) {
                out.println("X\t" + i + "\t" + esc(t.toString()));
            }
        }
    }
}
"""

_KIND = {
    "ERROR": ("compile-error", "error"),
    "WARNING": ("compiler-warning", "warning"),
    "MANDATORY_WARNING": ("compiler-warning", "warning"),
    "NOTE": ("note", "info"),
    "OTHER": ("note", "info"),
}


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}.get(text[i + 1], text[i + 1]))
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


class JavacAnalyser(Analyser):
    """javac -Xlint:all through javax.tools, one JVM per batch."""

    name = NAME
    languages = ("java",)
    default_for = ("java",)
    description = "javac -Xlint:all (each sample its own compilation, many per JVM)"
    categories: ClassVar[dict[str, str]] = {
        "compile-error": "the code does not compile (syntax, unknown symbol, type error); severity error",
        "lint": "an -Xlint warning (rule = its key: rawtypes, unchecked, serial, ...); severity warning",
        "compiler-warning": "another compiler warning; severity warning",
        "note": "a compiler note (e.g. deprecated or unchecked API use summarised); severity info",
    }

    measures: ClassVar[dict[str, str]] = {
        **SEVERITY_MEASURES,
        "compiled": "1 when the compiler produced output for the sample, else 0",
    }

    def check_available(self, config: QualityConfig) -> str:
        return resolve_program(config, "java", INSTALL_HINT)

    def analyse_batch(
        self, samples: Sequence[Sample], workdir: Path, config: QualityConfig
    ) -> list[ToolResult]:
        java = resolve_program(config, "java", INSTALL_HINT)
        helper = workdir / "BatchJavac.java"
        helper.write_text(BATCH_JAVAC, encoding="utf-8")
        units, unit_paths = write_java_units(samples, workdir)
        paths = [str(path) for path in unit_paths]

        results: dict[int, ToolResult] = {}
        pending = list(range(len(samples)))
        restarts = 0
        while pending:
            chunk = pending[: max(1, config.batch_size)]
            done, broken = self._run_chunk(
                java, helper, chunk, [paths[i] for i in chunk], samples, units, config
            )
            results.update(done)
            if broken is not None:
                index, reason = broken
                results[index] = failed(samples[index], NAME, reason)
                restarts += 1
                if restarts > MAX_RESTARTS:
                    for rest in pending:
                        results.setdefault(rest, failed(samples[rest], NAME, f"not compiled: {reason}"))
            pending = [i for i in pending if i not in results]
        return [results[i] for i in range(len(samples))]

    def _run_chunk(
        self,
        java: str,
        helper: Path,
        chunk: list[int],
        paths: list[str],
        samples: Sequence[Sample],
        units: Sequence[SourceUnit],
        config: QualityConfig,
    ) -> tuple[dict[int, ToolResult], tuple[int, str] | None]:
        """Results for the samples the helper finished, and (sample, reason) if the JVM died on one."""
        argv = [java, "-Xss16m", "-Duser.language=en", "-Duser.country=US", str(helper), *paths]
        outcome = run_command(argv, cwd=helper.parent, timeout_s=config.timeout_s, env=tool_env())
        if outcome.returncode != 0 and not outcome.timed_out and "S\t" not in outcome.stdout:
            # The helper itself did not start (no JDK compiler, broken java): every sample fails.
            raise AnalyserUnavailable(f"javac helper did not run (exit {outcome.returncode}): {outcome.tail()}")
        started: int | None = None
        diagnostics: dict[int, list[list[str]]] = {}
        done: dict[int, ToolResult] = {}
        for raw in outcome.stdout.splitlines():
            fields = raw.split("\t")
            kind, position = fields[0], int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else -1
            if not 0 <= position < len(chunk):
                continue
            index = chunk[position]
            if kind == "S":
                started = index
            elif kind == "D" and len(fields) >= 7:
                diagnostics.setdefault(index, []).append(fields[2:])
            elif kind == "E":
                compiled = len(fields) > 2 and fields[2] == "true"
                done[index] = _result(samples[index], units[index], diagnostics.get(index, []), compiled)
            elif kind == "X":
                done[index] = failed(
                    samples[index], NAME, f"javac crashed: {_unescape(fields[2] if len(fields) > 2 else '')}"
                )
        if started is not None and started not in done:
            why = (
                f"timed out after {config.timeout_s:.0f} s"
                if outcome.timed_out
                else f"exit {outcome.returncode}"
            )
            return done, (started, f"javac JVM died while compiling this sample ({why}): {outcome.tail()}")
        if len(done) < len(chunk):
            missing = next(i for i in chunk if i not in done)
            return done, (
                missing,
                f"javac helper stopped early (exit {outcome.returncode}): {outcome.tail()}",
            )
        return done, None


def _result(sample: Sample, unit: SourceUnit, diagnostics: list[list[str]], compiled: bool) -> ToolResult:
    findings: list[Finding] = []
    dropped = 0
    for kind, line_text, code, lint, message in diagnostics:
        category, severity = _KIND.get(kind, ("note", "info"))
        if lint:
            category = "lint"
            rule = lint
        else:
            rule = code.removeprefix("compiler.") or kind.lower()
        number = int(line_text) if line_text.lstrip("-").isdigit() else None
        line, synthetic = unit.map_line(number)
        if synthetic and severity != "error":
            dropped += 1
            continue
        findings.append(Finding(NAME, rule, category, severity, line, _unescape(message)))
    measures = severity_measures(findings)
    measures["compiled"] = 1.0 if compiled else 0.0
    detail = unit.note
    if dropped:
        detail = join_details(detail, f"{dropped} finding(s) about the added wrapper lines dropped")
    return ok(sample, NAME, findings, measures, detail)


ANALYSERS = (JavacAnalyser,)
