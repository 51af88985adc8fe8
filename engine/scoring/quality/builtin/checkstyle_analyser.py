"""checkstyle with the Sun and the Google checks (Java): analysers `checkstyle-sun`, `checkstyle-google`.

One JVM per batch of files (checkstyle takes ~1 s to start): each sample is written as its own
compilation unit (prepare.java_unit: named after its public type, or wrapped in `class Wrapper`)
in its own directory, and checkstyle runs once over all of them with `-f xml`. The configuration is
the one Debian ships (sun_checks.xml / google_checks.xml) with `haltOnException=false` added, so
a file checkstyle cannot parse is reported for that file instead of aborting the whole batch; such a
sample is `failed` ("checkstyle cannot parse ...": its syntax error is javac's finding).

Findings: rule_id = the check's name (ParameterName for ...naming.ParameterNameCheck), category =
the check's package (naming, javadoc, coding, whitespace, ...; "misc" for checks at the top of the
checks package), severity = checkstyle's (error for Sun, warning for Google). Findings on the lines a
wrapper added are dropped (they are about the wrapper), except errors, which move to the nearest line.
Measures: findings, findings_<severity>.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Sequence
from pathlib import Path

from engine.scoring.quality.base import (
    SEVERITY_MEASURES,
    Analyser,
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

DEBIAN_CONFIG_DIR = Path("/usr/share/checkstyle")
JAR_CANDIDATES = (Path("/usr/share/java/checkstyle.jar"),)
INSTALL_HINT = "install it with `apt-get install --no-install-recommends checkstyle` (make system)"
_CHECKER_OPEN = re.compile(r"<module\s+name\s*=\s*\"Checker\"\s*>")
_PARSE_ERROR = re.compile(r"(\d+):(\d+): (.+)$")
_SEVERITY = {"error": "error", "warning": "warning", "info": "info", "ignore": "info"}


def load_config_text(filename: str, config_dir: str | None) -> str:
    """The checkstyle configuration `filename` from config_dir, Debian's directory, or the jar."""
    directories = [Path(config_dir)] if config_dir else [DEBIAN_CONFIG_DIR]
    for directory in directories:
        path = directory / filename
        if path.is_file():
            return path.read_text(encoding="utf-8")
    for jar in JAR_CANDIDATES:
        if jar.is_file():
            with zipfile.ZipFile(jar) as archive, archive.open(filename) as fh:
                return fh.read().decode("utf-8")
    where = config_dir or f"{DEBIAN_CONFIG_DIR} or {JAR_CANDIDATES[0]}"
    raise FileNotFoundError(f"checkstyle configuration {filename} not found in {where}; {INSTALL_HINT}")


def tolerant_config(text: str) -> str:
    """The configuration with haltOnException=false, so one unparsable file does not stop the run."""
    text, count = _CHECKER_OPEN.subn(
        lambda m: m.group(0) + '\n  <property name="haltOnException" value="false"/>', text, count=1
    )
    if count != 1:
        raise ValueError('checkstyle configuration has no <module name="Checker"> element')
    return text


def check_identity(source: str) -> tuple[str, str]:
    """(rule_id, category) from a checkstyle source class name."""
    parts = source.split(".")
    rule = parts[-1].removesuffix("Check") if parts else source
    if "checks" in parts:
        after = parts[parts.index("checks") + 1 : -1]
        category = after[0] if after else "misc"
    else:
        category = "checker"
    return rule, category


# The category of a finding is the package of its check (check_identity).
CHECK_PACKAGES = {
    "annotation": "annotation use and placement",
    "blocks": "braces and blocks (NeedBraces, LeftCurly, EmptyBlock, AvoidNestedBlocks)",
    "coding": "coding problems (MagicNumber, HiddenField, InnerAssignment, EqualsHashCode)",
    "design": "class design (FinalClass, DesignForExtension, VisibilityModifier)",
    "header": "the file header",
    "imports": "imports (AvoidStarImport, UnusedImports, RedundantImport)",
    "indentation": "indentation",
    "javadoc": "missing or malformed Javadoc",
    "metrics": "complexity limits (cyclomatic, NPath, class fan-out)",
    "modifier": "modifiers (ModifierOrder, RedundantModifier)",
    "naming": "naming conventions (ParameterName, MethodName, ConstantName)",
    "regexp": "pattern checks on the text (e.g. trailing whitespace)",
    "sizes": "length limits (LineLength, MethodLength, ParameterNumber)",
    "whitespace": "whitespace around tokens and tabs",
    "misc": "checks at the top of the checks package (FinalParameters, TodoComment, UpperEll, ...)",
    "checker": "a finding of checkstyle itself, not of a check",
}


class _CheckstyleBase(Analyser):
    """Shared runner; subclasses choose the configuration file."""

    languages = ("java",)
    default_for = ("java",)
    categories = CHECK_PACKAGES
    measures = SEVERITY_MEASURES
    config_file = ""

    def check_available(self, config: QualityConfig) -> str:
        program = resolve_program(config, "checkstyle", INSTALL_HINT)
        load_config_text(self.config_file, config.checkstyle_config_dir)
        return f"{program} -c {self.config_file}"

    def analyse_batch(
        self, samples: Sequence[Sample], workdir: Path, config: QualityConfig
    ) -> list[ToolResult]:
        program = resolve_program(config, "checkstyle", INSTALL_HINT)
        config_path = workdir / self.config_file
        config_path.write_text(
            tolerant_config(load_config_text(self.config_file, config.checkstyle_config_dir)),
            encoding="utf-8",
        )
        units, paths = write_java_units(samples, workdir)

        results: list[ToolResult] = []
        for start in range(0, len(samples), max(1, config.batch_size)):
            stop = start + max(1, config.batch_size)
            results.extend(
                self._run_chunk(
                    program,
                    config_path,
                    samples[start:stop],
                    units[start:stop],
                    paths[start:stop],
                    workdir / f"report-{start}.xml",
                    config,
                )
            )
        return results

    def _run_chunk(
        self,
        program: str,
        config_path: Path,
        samples: Sequence[Sample],
        units: Sequence[SourceUnit],
        paths: Sequence[Path],
        report: Path,
        config: QualityConfig,
    ) -> list[ToolResult]:
        argv = [program, "-c", str(config_path), "-f", "xml", "-o", str(report), *map(str, paths)]
        timeout = config.timeout_s
        outcome = run_command(argv, cwd=report.parent, timeout_s=timeout, env=tool_env())
        if outcome.timed_out:
            detail = f"checkstyle timed out after {timeout:.0f} s on a batch of {len(paths)} files"
            return [failed(sample, self.name, detail) for sample in samples]
        try:
            root = ET.parse(report).getroot()
        except (OSError, ET.ParseError) as exc:
            detail = (
                f"checkstyle produced no readable report (exit {outcome.returncode}: {exc}): {outcome.tail()}"
            )
            return [failed(sample, self.name, detail) for sample in samples]
        files = {str(Path(node.get("name", "")).resolve()): node for node in root.iter("file")}
        results = []
        for sample, unit, path in zip(samples, units, paths, strict=True):
            node = files.get(str(path))
            if node is None:
                detail = (
                    f"checkstyle reported nothing for this file (exit {outcome.returncode}): {outcome.tail()}"
                )
                results.append(failed(sample, self.name, detail))
            else:
                results.append(self._file_result(sample, unit, node))
        return results

    def _file_result(self, sample: Sample, unit: SourceUnit, node: ET.Element) -> ToolResult:
        findings: list[Finding] = []
        dropped = 0
        for error in node:
            source = error.get("source", "")
            message = error.get("message", "")
            if error.tag == "exception" or source.endswith(".Checker"):
                return failed(sample, self.name, _parse_failure(error.text or message, unit))
            if error.tag != "error":
                continue
            rule, category = check_identity(source)
            severity = _SEVERITY.get(error.get("severity", "error"), "warning")
            raw_line = error.get("line")
            line, synthetic = unit.map_line(int(raw_line) if raw_line and raw_line.isdigit() else None)
            if synthetic and severity != "error":
                dropped += 1
                continue
            findings.append(Finding(self.name, rule, category, severity, line, message))
        detail = unit.note
        if dropped:
            detail = join_details(detail, f"{dropped} finding(s) about the added wrapper lines dropped")
        return ok(sample, self.name, findings, severity_measures(findings), detail)


def _parse_failure(message: str, unit: SourceUnit) -> str:
    """A one-line reason from checkstyle's exception text, with the sample's own line number.

    The innermost "Caused by:" line carries the parser's position and complaint, in either of the
    forms "/path/X.java:2:11: unexpected token: {" or "line 2:23: unexpected char: 's'".
    """
    causes = [line.strip() for line in message.splitlines() if line.strip().startswith("Caused by:")]
    reason = ""
    if causes:
        match = _PARSE_ERROR.search(causes[-1])
        if match:
            line, _ = unit.map_line(int(match.group(1)))
            reason = f" at line {line}: {match.group(3).strip()}"
        else:
            reason = ": " + causes[-1].removeprefix("Caused by:").strip()
    return join_details(
        f"checkstyle cannot parse this file{reason} (a syntax error, or syntax newer than its Java grammar)",
        unit.note,
    )


class CheckstyleSunAnalyser(_CheckstyleBase):
    """checkstyle with sun_checks.xml."""

    name = "checkstyle-sun"
    config_file = "sun_checks.xml"
    description = "checkstyle 8.x with the Sun checks (sun_checks.xml), one JVM per batch"


class CheckstyleGoogleAnalyser(_CheckstyleBase):
    """checkstyle with google_checks.xml."""

    name = "checkstyle-google"
    config_file = "google_checks.xml"
    description = "checkstyle 8.x with the Google checks (google_checks.xml), one JVM per batch"


ANALYSERS = (CheckstyleSunAnalyser, CheckstyleGoogleAnalyser)
