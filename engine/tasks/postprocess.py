"""Turning raw completions into predictions, and inputs into prompts: code-block extraction,
SUMMARY/DONE stripping, stop sequences, docstring and comment stripping.
"""

from __future__ import annotations

import io
import re
import tokenize

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+#.-]*)[ \t]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)


def extract_code(text: str, prefer: str | None = None) -> str:
    """The code in a completion: a fenced block if there is one (the first, or the first whose
    language tag matches `prefer`), an unclosed fence's rest, else the whole text stripped."""
    blocks = _FENCE.findall(text)
    if blocks:
        if prefer:
            tags = {prefer.lower(), {"csharp": "cs", "python": "py"}.get(prefer.lower(), prefer.lower())}
            if prefer.lower() == "csharp":
                tags |= {"c#", "csharp", "cs"}
            for tag, body in blocks:
                if tag.lower() in tags:
                    return body.strip("\n")
        return blocks[0][1].strip("\n")
    return text.strip()


def strip_summary(text: str) -> str:
    """'SUMMARY: ... DONE' → '...', as the reference package cut its summaries: the text after the last
    'SUMMARY:' (when there is one), up to the first 'DONE' (when there is one), stripped."""
    out = text.strip()
    if "SUMMARY:" in out:
        out = out.split("SUMMARY:")[-1].strip()
    if "DONE" in out:
        out = out.split("DONE")[0].strip()
    return out


def package_translation(completion: str) -> str:
    """A translation as the reference package's inference scripts cleaned it (`clean_generated_code`,
    after generating with its plain 'Human: … Assistant:' template): the text after the last
    'Assistant:', then the inside of the first ``` fence. Verbatim, including its quirk that a
    ```csharp / ```cs fence keeps its language tag as the first line of the code."""
    code = completion.strip()
    if "Assistant:" in code:
        code = code.split("Assistant:")[-1].strip()
    if "```java" in code:
        code = code.split("```java")[1].split("```")[0].strip()
    elif "```csharp" in code or "```cs" in code or "```" in code:
        code = code.split("```")[1].split("```")[0].strip()
    return code.strip()


def cut_at_stop(text: str, stops: list[str]) -> tuple[str, bool]:
    """Cut `text` at the earliest stop string; returns (text, whether one was found)."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def strip_python_docstrings(source: str) -> str:
    """Remove string literals that stand alone as statements (docstrings, wherever they sit).

    Lexical (tokenize), so it also works on Python 2 code that `ast` cannot parse; on a tokenize
    failure it falls back to removing triple-quoted blocks.
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return re.sub(r'[ \t]*("""|\'\'\')[\s\S]*?\1[ \t]*\n?', "", source)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    prev = tokenize.NEWLINE
    skip = {tokenize.NL, tokenize.COMMENT}
    for i, tok in enumerate(tokens):
        if tok.type in skip:
            continue
        if tok.type == tokenize.STRING and prev in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            nxt = next((t for t in tokens[i + 1:] if t.type not in skip), None)
            if nxt is not None and nxt.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                drop.update(range(tok.start[0], tok.end[0] + 1))
        prev = tok.type
    kept = [line for n, line in enumerate(lines, start=1) if n not in drop]
    return _fill_empty_blocks("".join(kept))


def _fill_empty_blocks(source: str) -> str:
    """A def whose only statement was its docstring needs a body: add `pass`."""
    lines = source.splitlines(keepends=True)
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        stripped = line.rstrip()
        if stripped.endswith(":") and re.match(r"\s*(async\s+def|def|class)\b", line):
            indent = len(line) - len(line.lstrip())
            following = next((ln for ln in lines[i + 1:] if ln.strip()), None)
            if following is None or len(following) - len(following.lstrip()) <= indent:
                out.append(" " * (indent + 4) + "pass\n")
    return "".join(out)


def strip_java_comments(source: str) -> str:
    """Remove /* */ and /** */ blocks and // comments (outside string literals)."""
    pattern = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|/\*[\s\S]*?\*/|//[^\n]*')

    def keep_strings(match: re.Match[str]) -> str:
        text = match.group(0)
        return text if text[0] in "\"'" else ""

    stripped = pattern.sub(keep_strings, source)
    return "\n".join(line for line in stripped.splitlines() if line.strip())


def first_paragraph(text: str) -> str:
    """The first paragraph of a docstring, on one line (CodeXGLUE's summary convention)."""
    para = re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0]
    return " ".join(para.split())


_KEEP_TOP_LEVEL = ("Import", "ImportFrom", "FunctionDef", "AsyncFunctionDef", "ClassDef", "Assign", "AnnAssign")


def sanitize_python(code: str) -> str:
    """The program part of a Python answer: the longest prefix that parses, keeping only imports,
    definitions and module-level assignments (models append example calls, prints and asserts,
    and a truncated answer ends mid-statement). Unparseable code is returned unchanged, so the
    test reports the model's real syntax error."""
    import ast

    lines = code.splitlines()
    tree = None
    for end in range(len(lines), 0, -1):
        try:
            tree = ast.parse("\n".join(lines[:end]))
        except SyntaxError:
            continue
        lines = lines[:end]
        break
    if tree is None:
        return code
    source = "\n".join(lines)
    kept = [ast.get_source_segment(source, node, padded=True) for node in tree.body
            if type(node).__name__ in _KEEP_TOP_LEVEL]
    kept_decorated = []
    for node, text in zip([n for n in tree.body if type(n).__name__ in _KEEP_TOP_LEVEL], kept, strict=True):
        decorators = getattr(node, "decorator_list", [])
        if decorators:  # get_source_segment starts at `def`: take the decorators' lines too
            first = min(d.lineno for d in decorators) - 1
            text = "\n".join(source.splitlines()[first:node.end_lineno])
        kept_decorated.append(text or "")
    result = "\n\n".join(t for t in kept_decorated if t.strip())
    return result + "\n" if result else code
