"""Turning a generated sample into something a tool can read, and mapping tool lines back.

Owns: the input checks every analyser shares (empty, binary, not encodable, too large), and, for Java
and C#, the compilation unit written to disk: a bare method (no type declaration) is wrapped in
`class Wrapper { ... }` after the sample's import/using lines (named after the constructor when the
fragment is one, so it stays a constructor), and the Java file is named after its
public top-level type (javac and checkstyle's OuterTypeFilename require that). `SourceUnit.map_line`
turns a line of the written file back into a line of the sample.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.scoring.quality.model import Sample

WRAPPER_CLASS = "Wrapper"
# Share of control characters (other than tab/newline/CR/FF/VT) above which text is treated as binary.
_BINARY_CONTROL_SHARE = 0.10

_JAVA_HEADER_LINE = re.compile(r"^\s*(?:package|import)\s+(?:static\s+)?[\w.*\s]+;\s*$")
_CSHARP_HEADER_LINE = re.compile(
    r"^\s*(?:(?:global\s+)?using\s+(?:static\s+)?[\w.]+(?:\s*=\s*[\w.<>,\s]+)?\s*;"
    r"|extern\s+alias\s+\w+\s*;"
    r"|\[\s*assembly\s*:.*\])\s*$"
)
_JAVA_TYPE = re.compile(
    r"(?:\b(?:class|interface|enum)\s+|@interface\s+|\brecord\s+(?=[A-Za-z_$][\w$]*\s*(?:<[^>]*>)?\s*\())"
    r"([A-Za-z_$][\w$]*)"
)
_CSHARP_TYPE = re.compile(r"\b(?:class|struct|interface|enum|record|namespace)\s+([A-Za-z_@][\w.]*)")
_PUBLIC = re.compile(r"\bpublic\b")
# A constructor header: modifiers, a name and a parameter list, no return type (Java `throws`, C#
# `: base(...)` / `: this(...)` allowed). Annotations/attributes are removed before matching.
_CONSTRUCTOR = re.compile(
    r"\s*(?:(?:public|protected|private|internal|static|extern|unsafe)\s+)*([A-Za-z_$][\w$]*)\s*\([^()]*\)"
    r"\s*(?:throws\s+[\w$.,\s]+|:\s*(?:base|this)\s*\(.*\))?\s*",
    re.DOTALL,
)
_ANNOTATION = re.compile(r"@[\w$.]+(?:\s*\([^()]*\))?|\[[^\[\]]*\]")
# Statement keywords that a fragment of statements puts where a constructor's name would be.
_NOT_A_NAME = frozenset(
    {"if", "for", "foreach", "while", "switch", "catch", "synchronized", "using", "lock", "fixed"}
)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def input_problem(sample: Sample, max_chars: int) -> str | None:
    """Why this sample cannot be analysed at all (the result is `skipped`), or None when it can."""
    code = sample.code
    if not isinstance(code, str):
        return f"code is {type(code).__name__}, not text"
    if not code.strip():
        return "empty code: nothing to analyse"
    if len(code) > max_chars:
        return f"too large: {len(code)} characters (limit {max_chars}, QualityConfig.max_code_chars)"
    nul = code.find("\x00")
    if nul >= 0:
        return f"binary content: NUL character at offset {nul}"
    try:
        code.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not valid Unicode text: unpaired surrogate at offset {exc.start}"
    controls = sum(1 for ch in code if ch not in "\t\n\r\f\v" and unicodedata.category(ch) == "Cc")
    if controls > _BINARY_CONTROL_SHARE * len(code):
        return f"binary content: {controls} of {len(code)} characters are control characters"
    return None


@dataclass(frozen=True)
class SourceUnit:
    """The text written to disk for one sample, and how its lines relate to the sample's lines."""

    text: str
    filename: str
    wrapped: bool = False
    wrapper: str = WRAPPER_CLASS  # the inserted class's name, when wrapped
    open_line: int = 0  # 1-based line of the inserted `class Wrapper {` (0: not wrapped)
    close_line: int = 0  # 1-based line of the inserted closing `}`
    original_lines: int = 0

    @property
    def note(self) -> str:
        """What was done to the sample, for the result's detail (empty when written verbatim)."""
        if not self.wrapped:
            return ""
        return (
            f"no type declaration: wrapped in 'class {self.wrapper} {{ ... }}' "
            f"(line {self.open_line} and a closing line added; lines mapped back)"
        )

    def map_line(self, line: int | None) -> tuple[int | None, bool]:
        """(line in the sample, whether the tool's line was one the wrapper added)."""
        if line is None or line <= 0:
            return None, False
        if not self.wrapped:
            return line, False
        if line < self.open_line:
            return line, False
        if line == self.open_line:
            return max(1, min(self.open_line, self.original_lines)), True
        if line < self.close_line:
            return line - 1, False
        return max(1, self.original_lines), True


def strip_comments_and_strings(code: str) -> str:
    """`code` with comments and string/char literals blanked (newlines kept, so lines still match).

    A scanner for Java and C# that is good enough to find top-level braces and declarations; it
    does not need to be a full lexer (C# interpolation holes with nested quotes may confuse it).
    """
    out: list[str] = []
    i, n = 0, len(code)

    def blank(text: str) -> str:
        return "".join(ch if ch == "\n" else " " for ch in text)

    while i < n:
        ch = code[i]
        two = code[i : i + 2]
        if two == "//":
            end = code.find("\n", i)
            end = n if end < 0 else end
            out.append(blank(code[i:end]))
            i = end
        elif two == "/*":
            end = code.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(blank(code[i:end]))
            i = end
        elif code.startswith('"""', i):  # Java text block
            end = code.find('"""', i + 3)
            end = n if end < 0 else end + 3
            out.append(blank(code[i:end]))
            i = end
        elif two in ('@"', "$@", "@$") or (ch in "\"'"):
            verbatim = two in ('@"', "$@", "@$")
            quote_at = code.find('"', i) if verbatim else i
            quote = code[quote_at]
            j = quote_at + 1
            while j < n:
                if verbatim and code.startswith('""', j):
                    j += 2
                    continue
                if not verbatim and code[j] == "\\":
                    j += 2
                    continue
                if code[j] == quote or (code[j] == "\n" and not verbatim):
                    j += 1
                    break
                j += 1
            out.append(blank(code[i:j]))
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def top_level_headers(code: str) -> list[str]:
    """The text before each top-level `{` (since the previous top-level `;` or `}`), in order."""
    text = strip_comments_and_strings(code)
    headers: list[str] = []
    depth = 0
    start = 0
    for pos, ch in enumerate(text):
        if ch == "{":
            if depth == 0:
                headers.append(text[start:pos])
            depth += 1
        elif ch == "}":
            depth = max(0, depth - 1)
            if depth == 0:
                start = pos + 1
        elif ch == ";" and depth == 0:
            start = pos + 1
    return headers


def _header_end(lines: list[str], header: re.Pattern[str]) -> int:
    """Number of leading lines that must stay outside a wrapper (imports, usings and what precedes them)."""
    last = 0
    in_comment = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if in_comment:
            in_comment = "*/" not in stripped
            continue
        if not stripped or stripped.startswith("//"):
            continue
        if stripped.startswith("/*"):
            in_comment = "*/" not in stripped[2:]
            continue
        if header.match(line):
            last = index + 1
            continue
        break
    return last


def split_lines(code: str) -> list[str]:
    """Lines with their terminators, split where javac/mcs/checkstyle split (\\n, \\r\\n, \\r only)."""
    return _LINE.findall(code)


def constructor_name(headers: list[str]) -> str | None:
    """The class name of the first top-level constructor among `headers` (a fragment), if any."""
    for text in headers:
        match = _CONSTRUCTOR.fullmatch(_ANNOTATION.sub(" ", text))
        if match and match.group(1) not in _NOT_A_NAME:
            return match.group(1)
    return None


def _wrap(code: str, header: re.Pattern[str], headers: list[str], extension: str) -> SourceUnit:
    lines = split_lines(code)
    name = constructor_name(headers) or WRAPPER_CLASS
    keep = _header_end(lines, header)
    body = "".join(lines[keep:])
    if body and not body.endswith(("\n", "\r")):
        body += "\n"
    text = "".join(lines[:keep]) + f"class {name} {{\n" + body + "}\n"
    original = len(lines)
    return SourceUnit(
        text=text,
        filename=f"{name}.{extension}" if extension == "java" else f"Sample.{extension}",
        wrapped=True,
        wrapper=name,
        open_line=keep + 1,
        close_line=original + 2,
        original_lines=original,
    )


def java_unit(code: str) -> SourceUnit:
    """The Java compilation unit for a sample: named after its public type, or wrapped if it has none."""
    headers = top_level_headers(code)
    if not headers or not _JAVA_TYPE.search(headers[0]):
        return _wrap(code, _JAVA_HEADER_LINE, headers, "java")
    name = None
    for text in headers:
        match = _JAVA_TYPE.search(text)
        if match and _PUBLIC.search(text[: match.start()]):
            name = match.group(1)
            break
    if name is None:
        first = _JAVA_TYPE.search(headers[0])
        name = first.group(1) if first else "Main"
    return SourceUnit(text=code, filename=f"{name}.java", original_lines=len(split_lines(code)))


def csharp_unit(code: str) -> SourceUnit:
    """The C# compilation unit for a sample: verbatim, or wrapped when it declares no type/namespace."""
    headers = top_level_headers(code)
    if not headers or not _CSHARP_TYPE.search(headers[0]):
        return _wrap(code, _CSHARP_HEADER_LINE, headers, "cs")
    return SourceUnit(text=code, filename="Sample.cs", original_lines=len(split_lines(code)))


def write_java_units(samples: Sequence[Sample], workdir: Path) -> tuple[list[SourceUnit], list[Path]]:
    """Each sample as a Java compilation unit in a folder of its own (public class names collide
    across samples), written as given; returns the units and their absolute paths."""
    units = [java_unit(sample.code) for sample in samples]
    paths = []
    for index, unit in enumerate(units):
        directory = workdir / f"s{index:05d}"
        directory.mkdir()
        path = directory / unit.filename
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(unit.text)
        paths.append(path.resolve())
    return units, paths
