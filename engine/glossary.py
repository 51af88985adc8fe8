"""The glossary: what every number and code the dashboard shows means, in plain words.

It owns the lookup of: metrics (scale and direction, from engine.vocabulary.describe_metric over the
registered metrics), execution outcomes (`exec:compile_error`, ...), analyser statuses, each
analyser's finding categories and measures (declared on the analysers themselves), pylint rule ids
(from pylint's own message store, read once per process) and checkstyle rule names; and the plain
reading of why an analysis failed (explain_failure), which the Quality page's banner shows.

The dashboard reaches it through engine.api.glossary(); it holds no module-level state (the caches
are functools.lru_cache on functions).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.vocabulary import describe_metric

KINDS = ("metric", "outcome", "status", "category", "measure", "rule")
_PYLINT_ID = re.compile(r"[CRWEIF]\d{4}")

# What the sandbox's execution outcomes mean (engine.scoring.sandbox.model.Status; a test keeps the two
# in step). `exec:<outcome>` is the share of executed samples with that outcome.
OUTCOMES = {
    "passed": "the program ran and every test passed",
    "failed": "the program ran but a test failed (wrong answer or an exception in the code)",
    "timeout": "the program ran past the time limit (often an endless loop)",
    "error": "the program could not run (crash before the tests, or a sandbox set-up problem)",
    "compile_error": "the code did not compile (Java/C#) or had a syntax error (Python)",
    "violation": "the sandbox stopped it for going over a memory or file-size limit",
}
# What an analyser's per-sample status means (engine.scoring.quality.model.Status).
ANALYSER_STATUSES = {
    "ok": "the analyser ran on the sample: its findings and measures are complete",
    "failed": "the analyser could not analyse the sample (see why); no findings are counted for it",
    "skipped": "the sample was not analysable at all (empty, binary or too large)",
}
_FAILURE_READINGS = {
    "unavailable": "the tool is not installed on this machine — `make setup` (or `make system`) installs it",
    "timeout": "the tool ran past its time limit on these samples",
    "unparseable": "the tool could not parse the generated code (invalid or unfinished code, not a setup "
    "problem)",
    "crash": "the analyser crashed on this batch (a bug or an unexpected input)",
    "skipped": "the samples were empty, binary or too large to analyse",
    "other": "the tool reported an error",
}


@dataclass(frozen=True)
class Term:
    """One glossary entry: `term` (pass@1, C0116, exec:compile_error, E, ccn) of `kind` (KINDS),
    for `tool` (an analyser's name, for categories, measures and rules; '' otherwise)."""

    term: str
    kind: str
    meaning: str
    tool: str = ""
    scale: str = ""

    def text(self) -> str:
        """The one-line tooltip: meaning, then scale."""
        return f"{self.meaning} — {self.scale}" if self.scale else self.meaning

    def row(self) -> dict[str, str]:
        """The entry as a table row."""
        return {"term": self.term, "kind": self.kind, "tool": self.tool, "meaning": self.meaning,
                "scale": self.scale}


@functools.lru_cache(maxsize=1)
def pylint_messages() -> dict[str, tuple[str, str]]:
    """Every pylint message id → (symbol, message), from pylint's own message store (read once)."""
    try:
        from pylint.lint import PyLinter
    except ImportError:  # pylint not installed: rule ids stay unexplained, nothing breaks
        return {}
    linter = PyLinter()
    linter.load_default_plugins()
    return {m.msgid: (m.symbol, _plain_message(m.msg, m.description)) for m in linter.msgs_store.messages}


def _plain_message(msg: str, description: str) -> str:
    """pylint's message, or (when it is a template like 'syntax-error: %s') its description's first
    sentence."""
    if "%" not in msg:
        return msg.split("\n")[0]
    first = description.split(". ")[0].strip().rstrip(".")
    return first + "." if first else msg


def rule_meaning(tool: str, rule_id: str) -> str:
    """One line for a rule id ('C0116' → 'missing-function-docstring: Missing function or method
    docstring'; 'MagicNumber' → checkstyle's meaning); '' when unknown."""
    if tool == "pylint" or (not tool and _PYLINT_ID.fullmatch(rule_id)):
        found = pylint_messages().get(rule_id)
        if found is None:  # a symbol given instead of an id
            found = next(((s, m) for s, m in pylint_messages().values() if s == rule_id), None)
        return f"{found[0]}: {found[1]}" if found else ""
    if tool.startswith("checkstyle") or not tool:
        from engine.scoring.quality.checkstyle_rules import CHECKSTYLE_RULES

        return CHECKSTYLE_RULES.get(rule_id, "")
    return ""


def metric_term(name: str) -> Term:
    """A metric's entry: its description (plus the outcome's meaning for exec:<outcome>) and scale."""
    info = describe_metric(name, _registered_metrics())
    meaning = info.description or name
    if name.startswith("exec:") and name[len("exec:"):] in OUTCOMES:
        meaning = f"{meaning}: {OUTCOMES[name[len('exec:'):]]}"
    return Term(name, "metric", meaning, scale=info.scale)


@functools.lru_cache(maxsize=1)
def _registered_metrics() -> dict:
    from engine.scoring.metrics import metric_infos

    return metric_infos()


def _analyser_terms() -> list[Term]:
    from engine.scoring.quality.api import analysers

    terms = []
    for name, analyser in analysers().items():
        terms += [Term(cat, "category", text, name) for cat, text in analyser.categories.items()]
        terms += [Term(measure, "measure", text, name) for measure, text in analyser.measures.items()]
    return terms


def _rule_terms() -> list[Term]:
    from engine.scoring.quality.checkstyle_rules import CHECKSTYLE_RULES

    terms = [Term(msgid, "rule", f"{symbol}: {msg}", "pylint") for msgid, (symbol, msg) in
             sorted(pylint_messages().items())]
    return terms + [Term(rule, "rule", text, "checkstyle") for rule, text in CHECKSTYLE_RULES.items()]


class Glossary:
    """Every term, looked up by name (and tool) or searched by text."""

    def __init__(self, terms: Iterable[Term]):
        self.terms: tuple[Term, ...] = tuple(terms)
        self._index: dict[tuple[str, str], Term] = {}
        for term in self.terms:
            self._index.setdefault((term.term.lower(), term.tool), term)
            self._index.setdefault((term.term.lower(), ""), term)

    def lookup(self, term: str, tool: str = "") -> Term | None:
        """The entry for `term` (of `tool` when given; checkstyle-sun/-google share checkstyle's
        rules); any metric name is described even if not listed; None when unknown."""
        key = str(term).strip()
        tools = [tool, "checkstyle"] if tool.startswith("checkstyle") else [tool]
        for candidate in tools:
            found = self._index.get((key.lower(), candidate))
            if found is not None:
                return found
        meaning = rule_meaning(tool, key) if tool or _PYLINT_ID.fullmatch(key) else ""
        if meaning:
            return Term(key, "rule", meaning, tool or "pylint")
        if not tool and _looks_like_metric(key):
            return metric_term(key)
        return None

    def help(self, term: str, tool: str = "", default: str = "") -> str:
        """The tooltip text for `term` ('' or `default` when unknown)."""
        found = self.lookup(term, tool)
        return found.text() if found is not None else default

    @staticmethod
    def explain_failure(tool: str, status: str, detail: str, n_samples: int | None = None) -> str:
        """One plain sentence on why `tool` failed or skipped samples (module explain_failure)."""
        return explain_failure(tool, status, detail, n_samples)

    def search(self, query: str, kinds: Sequence[str] = ()) -> list[Term]:
        """Entries whose term, tool or meaning contains every word of `query` (case-insensitive)."""
        words = query.lower().split()
        out = []
        for term in self.terms:
            if kinds and term.kind not in kinds:
                continue
            text = f"{term.term} {term.tool} {term.meaning} {term.scale}".lower()
            if all(word in text for word in words):
                out.append(term)
        return out


def _looks_like_metric(name: str) -> bool:
    return bool(re.fullmatch(r"pass@\d+", name)) or ":" in name or name in _registered_metrics()


@functools.lru_cache(maxsize=8)
def build(metrics: tuple[str, ...] = ()) -> Glossary:
    """The glossary: the registered metrics, pass@1, `metrics` (names a run reported), every
    execution-outcome rate, analyser statuses, categories, measures and rules."""
    names = dict.fromkeys(["pass@1", *sorted(_registered_metrics()), *metrics,
                           *(f"exec:{o}" for o in OUTCOMES)])
    terms = [metric_term(name) for name in names]
    terms += [Term(o, "outcome", text) for o, text in OUTCOMES.items()]
    terms += [Term(s, "status", text) for s, text in ANALYSER_STATUSES.items()]
    return Glossary([*terms, *_analyser_terms(), *_rule_terms()])


def explain_failure(tool: str, status: str, detail: str, n_samples: int | None = None) -> str:
    """One plain sentence on why `tool` failed or skipped samples, naming the tool's own error."""
    from engine.scoring.quality.base import UNAVAILABLE_PREFIX, failure_kind

    kind = failure_kind(status, detail)
    count = f"{n_samples} sample(s)" if n_samples is not None else "samples"
    verb = "skipped" if status == "skipped" else "failed on"
    own = (detail or "").removeprefix(UNAVAILABLE_PREFIX).strip()
    sentence = f"{tool} {verb} {count}: {_FAILURE_READINGS[kind]}"
    return f"{sentence}. The tool said: “{own}”" if own else f"{sentence}."
