"""The Task base class: a task variant is its facts (TaskFacts), its family's behaviour and its own
data loading.

A variant (gen-python, trans-java-cs, sum-java, a custom task, ...) passes its facts to `Task.__init__`
and implements `load`; the prompt, training target, stop strings, post-processing, default metrics
and test program come from its family (engine.tasks.families), so tasks of one family cannot drift
apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import SpecError
from engine.tasks.base import DataContext, Example, Options, Split, TaskFacts, TestProgram
from engine.tasks.families import Family, family


class Task:
    """Base class of a task variant: read-only facts, family behaviour, and `load` (per subclass)."""

    def __init__(self, facts: TaskFacts):
        self.facts = facts
        self.behaviour: Family = family(facts.family)
        if facts.executable and not self.behaviour.can_execute(facts.language):
            raise ValueError(f"task {facts.name!r}: {facts.family} tasks cannot execute {facts.language} code")

    # --- facts -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The task's registry name (gen-python, ...)."""
        return self.facts.name

    @property
    def family(self) -> str:
        """generation | translation | summarization."""
        return self.facts.family

    @property
    def language(self) -> str:
        """Language of the output ('text' for natural language)."""
        return self.facts.language

    @property
    def source_language(self) -> str | None:
        """Language of the input, where it has one."""
        return self.facts.source_language

    @property
    def description(self) -> str:
        """One line for catalogues."""
        return self.facts.description

    @property
    def executable(self) -> bool:
        """Whether predictions run against tests in the sandbox."""
        return self.facts.executable

    @property
    def test_set(self) -> str:
        """The evaluation set's name when the task has no eval_set option."""
        return self.facts.test_set

    @property
    def options(self) -> Options:
        """Option name -> (allowed values, default)."""
        return self.facts.options

    @property
    def default_metrics(self) -> tuple[str, ...]:
        """The metrics the task scores by default (its family's; pass@k only when it executes)."""
        return self.behaviour.default_metrics(self.facts)

    @property
    def is_code(self) -> bool:
        """Whether the task's output is code (not natural-language text)."""
        return self.language != "text"

    @property
    def default_max_new_tokens(self) -> int:
        """Default generation budget: 512 new tokens for code, 128 for text."""
        return 512 if self.is_code else 128

    # --- options -----------------------------------------------------------------------------
    def check_options(self, options: Mapping[str, Any], path: str) -> list[SpecError]:
        """Errors for options the task does not have or values it does not allow."""
        errors = []
        for key, value in options.items():
            if key not in self.options:
                known = ", ".join(sorted(self.options)) or "none"
                errors.append(SpecError(f"{path}.{key}", value, f"task {self.name} has no option '{key}'",
                                        f"remove it (options of {self.name}: {known})"))
                continue
            allowed, _ = self.options[key]
            if value not in allowed:
                errors.append(SpecError(f"{path}.{key}", value, "not an allowed value",
                                        f"use one of {', '.join(map(str, allowed))}"))
        return errors

    def option(self, ctx: DataContext, key: str) -> Any:
        """The value of option `key`: the context's, else the task's default."""
        return ctx.options.get(key, self.options[key][1])

    def eval_set(self, ctx: DataContext) -> str:
        """Name of the evaluation set in use (for display and the store)."""
        return str(self.option(ctx, "eval_set")) if "eval_set" in self.options else self.test_set

    # --- data (each variant's own) -----------------------------------------------------------
    def load(self, split: Split, ctx: DataContext) -> list[Example]:
        """Load the examples of `split` from the data directory."""
        raise NotImplementedError

    # --- behaviour (the family's) ------------------------------------------------------------
    def messages(self, example: Example) -> list[dict[str, str]]:
        """The chat messages (system and user turns) for an example."""
        return self.behaviour.messages(self.facts, example)

    def target(self, example: Example) -> str:
        """The assistant turn the model is trained to produce."""
        return self.behaviour.target(example)

    def stop_strings(self) -> list[str]:
        """Strings that end a completion (empty: stop at end of sequence only)."""
        return self.behaviour.stop_strings()

    def postprocess(self, completion: str, example: Example) -> str:
        """The completion as scored: extracted code for code tasks, the text otherwise."""
        del example  # the same for every example of a task
        return self.behaviour.postprocess(self.facts, completion)

    def program(self, example: Example, prediction: str) -> TestProgram | None:
        """The test program for `prediction`, or None when the task is not executable."""
        return self.behaviour.program(self.facts, example, prediction)
