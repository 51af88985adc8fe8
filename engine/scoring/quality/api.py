"""The public entry points: the analyser registry, analyse samples with the registered analysers, list
and pick analysers.

Registry (engine.registry.Registry): every module in ANALYSER_MODULES, and every plugin module named in
CODETUNE_PLUGINS, may expose `ANALYSERS`, a tuple of `Analyser` subclasses; each is instantiated once,
when the registry is first used. Adding an analyser = one module + its path in ANALYSER_MODULES.

`analyse` groups the samples by language, runs each requested analyser once over all samples it
applies to (that is the point: one pylint Run, one checkstyle JVM, one javac JVM per batch), each in a
fresh temporary directory that is removed afterwards, and returns one ToolResult per (sample,
analyser), ordered by sample and then by analyser. Samples that cannot be analysed at all (empty,
binary, too large) get `skipped` from every analyser without reaching it; an analyser whose tool is
missing or crashes yields `failed` for every sample it was given, with the reason. Nothing raises for
bad input data; a bad request (unknown analyser or language) raises ValueError.

Not thread-safe: pylint and astroid keep process-wide state; call from one thread at a time.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.registry import Registry
from engine.scoring.quality.base import UNAVAILABLE_PREFIX, Analyser, AnalyserUnavailable, failed, skipped
from engine.scoring.quality.model import LANGUAGES, AnalyserInfo, QualityConfig, Sample, ToolResult
from engine.scoring.quality.prepare import input_problem

Progress = Callable[[str, int, int], None]

# The built-in analyser modules, each exposing ANALYSERS. A new analyser = its module plus its path here.
ANALYSER_MODULES = (
    "engine.scoring.quality.builtin.checkstyle_analyser",
    "engine.scoring.quality.builtin.javac_analyser",
    "engine.scoring.quality.builtin.lizard_analyser",
    "engine.scoring.quality.builtin.mcs_analyser",
    "engine.scoring.quality.builtin.pylint_analyser",
    "engine.scoring.quality.builtin.radon_analyser",
)


def _instantiate(item: object) -> Analyser:
    """The analyser a module lists: a concrete Analyser subclass with a name and known languages."""
    if not (inspect.isclass(item) and issubclass(item, Analyser)) or inspect.isabstract(item):
        raise TypeError(f"ANALYSERS entries must be concrete Analyser subclasses, got {item!r}")
    name = item.__dict__.get("name", getattr(item, "name", None))
    if not isinstance(name, str) or not name:
        raise TypeError(f"analyser class {item.__qualname__} has no `name`")
    unknown = set(item.languages) - set(LANGUAGES)
    if unknown:
        raise TypeError(f"analyser {name!r}: unsupported language(s) {sorted(unknown)}; expected {list(LANGUAGES)}")
    return item()


_REGISTRY: Registry[Analyser] = Registry("analyser", "ANALYSERS", ANALYSER_MODULES, make=_instantiate)


def analysers() -> dict[str, Analyser]:
    """Every registered analyser by name, sorted by name (instantiated once, when first needed)."""
    return dict(sorted(_REGISTRY.items()))


def default_analysers(language: str) -> list[str]:
    """The analysers run on `language` when `analyse` is given no analyser list, sorted by name."""
    _check_language(language)
    return [name for name, analyser in analysers().items() if language in analyser.default_for]


def available_analysers(config: QualityConfig | None = None) -> list[AnalyserInfo]:
    """Every registered analyser, whether its tool can run here, what it runs or why it cannot, and
    what its finding categories mean."""
    config = config or QualityConfig()
    infos = []
    for name, analyser in analysers().items():
        try:
            detail, available = analyser.check_available(config), True
        except (AnalyserUnavailable, OSError, KeyError, ValueError) as exc:
            detail, available = str(exc), False
        infos.append(AnalyserInfo(name, analyser.languages, analyser.default_for, analyser.description,
                                  available, detail, dict(analyser.categories)))
    return infos


def analyse(
    samples: Sequence[Sample],
    analysers: Sequence[str] | None = None,  # pylint: disable=redefined-outer-name  # the public keyword
    progress: Progress | None = None,
    *,
    config: QualityConfig | None = None,
) -> list[ToolResult]:
    """Analyse `samples` with the named `analysers` (default: default_analysers of each sample's language).

    A named analyser only applies to the samples of its languages. `progress(stage, done, total)` is
    called after each analyser's batch (stage = the analyser's name; "input checks" first when samples
    were skipped), counting (sample, analyser) results; the last call has done == total.
    """
    config = config or QualityConfig()
    by_name = dict(_REGISTRY.items())
    unknown = [name for name in analysers or () if name not in by_name]
    if unknown:
        raise ValueError(f"unknown analyser(s) {unknown}; available: {sorted(by_name)}")
    for sample in samples:
        _check_language(sample.language)

    wanted: dict[int, list[str]] = {}
    defaults = {language: default_analysers(language) for language in LANGUAGES}
    for position, sample in enumerate(samples):
        names = defaults[sample.language] if analysers is None else list(dict.fromkeys(analysers))
        wanted[position] = [name for name in names if sample.language in by_name[name].languages]

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

    order = list(dict.fromkeys(name for names in wanted.values() for name in names))
    for name in order:
        batch = [p for p, names in wanted.items() if name in names and problems[p] is None]
        if not batch:
            continue
        for position, result in zip(
            batch, _run_analyser(by_name[name], [samples[p] for p in batch], config), strict=True
        ):
            results[position, name] = result
        done += len(batch)
        if progress is not None:
            progress(name, done, total)
    return [results[position, name] for position, names in wanted.items() for name in names]


def _run_analyser(analyser: Analyser, samples: list[Sample], config: QualityConfig) -> list[ToolResult]:
    """The analyser's results for `samples`, or `failed` for each when its tool cannot run or it breaks."""
    name = analyser.name
    try:
        analyser.check_available(config)
    except (AnalyserUnavailable, OSError, KeyError, ValueError) as exc:
        return [failed(sample, name, f"{UNAVAILABLE_PREFIX} {exc}") for sample in samples]
    try:
        with tempfile.TemporaryDirectory(prefix=f"cts-quality-{name}-") as tmp:
            results = analyser.analyse_batch(samples, Path(tmp), config)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # Whatever an analyser raises becomes a recorded failure of this batch, never "no findings".
        return [failed(sample, name, f"{name} crashed: {type(exc).__name__}: {exc}") for sample in samples]
    if len(results) != len(samples) or any(r.key != s.key for r, s in zip(results, samples, strict=False)):
        detail = f"{name} returned {len(results)} results for {len(samples)} samples (analyser bug)"
        return [failed(sample, name, detail) for sample in samples]
    return results


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; expected one of {list(LANGUAGES)}")
