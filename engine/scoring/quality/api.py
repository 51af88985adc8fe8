"""The public entry points: analyse samples with the registered tools, list and pick tools.

`analyse` groups the samples by language, runs each requested tool once over all samples it applies
to (that is the point: one pylint Run, one checkstyle JVM, one javac JVM per batch), each tool in a
fresh temporary directory that is removed afterwards, and returns one ToolResult per (sample, tool),
ordered by sample and then by tool. Samples that cannot be analysed at all (empty, binary, too large)
get `skipped` from every tool without reaching it; a tool that is missing or crashes yields `failed`
for every sample it was given, with the reason. Nothing raises for bad input data; a bad request
(unknown tool or language) raises ValueError.

Not thread-safe: pylint and astroid keep process-wide state; call from one thread at a time.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.scoring.quality import analysers as _analysers
from engine.scoring.quality.base import Analyser, ToolUnavailable, failed, skipped
from engine.scoring.quality.model import LANGUAGES, QualityConfig, Sample, ToolInfo, ToolResult
from engine.scoring.quality.prepare import input_problem

Progress = Callable[[str, int, int], None]


def registry() -> dict[str, Analyser]:
    """Every registered analyser by tool name, sorted by name (built fresh on each call)."""
    found: dict[str, Analyser] = {}
    modules = [value for value in vars(_analysers).values() if inspect.ismodule(value)]
    for module in modules:
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Analyser)
                and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)
                and isinstance(cls.__dict__.get("name"), str)
            ):
                if cls.name in found:
                    raise RuntimeError(f"two analysers are named {cls.name!r}")
                found[cls.name] = cls()
    return dict(sorted(found.items()))


def default_tools(language: str) -> list[str]:
    """The tools run on `language` when `analyse` is given no tool list, sorted by name."""
    _check_language(language)
    return [name for name, tool in registry().items() if language in tool.default_for]


def available_tools(config: QualityConfig | None = None) -> list[ToolInfo]:
    """Every registered tool, whether it can run here, and what it runs or why it cannot."""
    config = config or QualityConfig()
    infos = []
    for name, tool in registry().items():
        try:
            detail, available = tool.check_available(config), True
        except (ToolUnavailable, OSError, KeyError, ValueError) as exc:
            detail, available = str(exc), False
        infos.append(ToolInfo(name, tool.languages, tool.default_for, tool.description, available, detail))
    return infos


def analyse(
    samples: Sequence[Sample],
    tools: Sequence[str] | None = None,
    progress: Progress | None = None,
    *,
    config: QualityConfig | None = None,
) -> list[ToolResult]:
    """Analyse `samples` with `tools` (default: default_tools of each sample's language).

    A named tool only applies to the samples of its languages. `progress(stage, done, total)` is
    called after each tool batch (stage = the tool's name; "input checks" first when samples were
    skipped), counting (sample, tool) results; the last call has done == total.
    """
    config = config or QualityConfig()
    tools_by_name = registry()
    unknown = [name for name in tools or () if name not in tools_by_name]
    if unknown:
        raise ValueError(f"unknown quality tool(s) {unknown}; available: {sorted(tools_by_name)}")
    for sample in samples:
        _check_language(sample.language)

    wanted: dict[int, list[str]] = {}
    defaults = {language: default_tools(language) for language in LANGUAGES}
    for position, sample in enumerate(samples):
        names = defaults[sample.language] if tools is None else list(dict.fromkeys(tools))
        wanted[position] = [name for name in names if sample.language in tools_by_name[name].languages]

    problems = {
        position: input_problem(sample, config.max_code_chars) for position, sample in enumerate(samples)
    }
    total = sum(len(names) for names in wanted.values())
    results: dict[tuple[int, str], ToolResult] = {}
    for position, names in wanted.items():
        reason = problems[position]
        if reason is not None:
            for name in names:
                results[position, name] = skipped(samples[position], name, reason)
    done = len(results)
    if progress is not None and done:
        progress("input checks", done, total)

    tool_order = list(dict.fromkeys(name for names in wanted.values() for name in names))
    for name in tool_order:
        batch = [p for p, names in wanted.items() if name in names and problems[p] is None]
        if not batch:
            continue
        for position, result in zip(
            batch, _run_tool(tools_by_name[name], [samples[p] for p in batch], config), strict=True
        ):
            results[position, name] = result
        done += len(batch)
        if progress is not None:
            progress(name, done, total)
    return [results[position, name] for position, names in wanted.items() for name in names]


def _run_tool(tool: Analyser, samples: list[Sample], config: QualityConfig) -> list[ToolResult]:
    """The tool's results for `samples`, or `failed` for each of them when the tool cannot run or breaks."""
    try:
        tool.check_available(config)
    except (ToolUnavailable, OSError, KeyError, ValueError) as exc:
        return [failed(sample, tool.name, f"tool unavailable: {exc}") for sample in samples]
    try:
        with tempfile.TemporaryDirectory(prefix=f"cts-quality-{tool.name}-") as tmp:
            results = tool.analyse_batch(samples, Path(tmp), config)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # Whatever a tool raises becomes a recorded failure of this batch, never "no findings".
        return [
            failed(sample, tool.name, f"{tool.name} crashed: {type(exc).__name__}: {exc}")
            for sample in samples
        ]
    if len(results) != len(samples) or any(r.key != s.key for r, s in zip(results, samples, strict=False)):
        detail = f"{tool.name} returned {len(results)} results for {len(samples)} samples (analyser bug)"
        return [failed(sample, tool.name, detail) for sample in samples]
    return results


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; expected one of {list(LANGUAGES)}")
