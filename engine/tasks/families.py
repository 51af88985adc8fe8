"""Task families as behaviour objects: one object per family (generation, translation, summarization)
owning everything its tasks share, built-in and custom alike:

- the chat prompt: a system turn and a user turn, from templates (the reference study's prompts,
  verbatim: ../shared/REFERENCE.md);
- the training target (summarization wraps it as "SUMMARY: … DONE") and the stop strings;
- post-processing a completion into the prediction that is scored;
- the default metrics (pass@k only where the task executes);
- execution: the test program for the sandbox (generation, in the languages engine.tasks.programs
  builds).

A task passes its TaskFacts; the family reads only the languages and whether the task executes. Each
task keeps its own data loading. The family names are engine.vocabulary.FAMILIES; `family(name)` is
the lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.tasks import postprocess, programs
from engine.tasks.base import Example, TaskFacts, TestProgram, language_name
from engine.vocabulary import FAMILIES

CODE_SIMILARITY = ("codebleu", "bleu", "exact_match")
TEXT_SIMILARITY = ("bleu", "smooth_bleu", "meteor", "rouge_l", "chrf")


@dataclass(frozen=True)
class Family:
    """What every task of one family does with an example, given the task's facts.

    system, user: templates with {language} (display name of the output language), {source} (of the
    source language; 'text' when none) and, in `user`, {input} (the example's input).
    target_template: the assistant turn trained on, with {target}.
    metrics: the default metrics of a task that does not execute.
    stops: strings that end a completion.
    """

    name: str
    system: str
    user: str
    metrics: tuple[str, ...]
    target_template: str = "{target}"
    stops: tuple[str, ...] = ()

    # --- what a task of this family is --------------------------------------------------------
    def output_language(self, declared: str) -> str:
        """The output language of a task declared with `declared` (custom tasks)."""
        return declared

    def can_execute(self, language: str) -> bool:
        """Whether tasks of this family writing `language` can run their predictions against tests."""
        del language
        return False

    def default_metrics(self, task: TaskFacts) -> tuple[str, ...]:
        """The metrics a task scores by default."""
        del task
        return self.metrics

    # --- prompting and training ---------------------------------------------------------------
    def messages(self, task: TaskFacts, example: Example) -> list[dict[str, str]]:
        """The chat messages (system and user turns) for an example."""
        names = {"language": language_name(task.language), "source": language_name(task.source_language)}
        return [
            {"role": "system", "content": self.system.format(**names)},
            {"role": "user", "content": self.user.format(input=example.input, **names)},
        ]

    def target(self, example: Example) -> str:
        """The assistant turn the model is trained to produce."""
        return self.target_template.format(target=example.target)

    def stop_strings(self) -> list[str]:
        """Strings that end a completion (empty: stop at end of sequence only)."""
        return list(self.stops)

    # --- scoring ------------------------------------------------------------------------------
    def postprocess(self, task: TaskFacts, completion: str) -> str:
        """The completion as scored: the code (a fenced block in the output language preferred; Python
        that is executed keeps only its definitions), or the stripped text."""
        if task.language == "text":
            return completion.strip()
        code = postprocess.extract_code(completion, prefer=task.language)
        if task.executable and task.language == "python":
            return postprocess.sanitize_python(code)
        return code

    def program(self, task: TaskFacts, example: Example, prediction: str) -> TestProgram | None:
        """The test program for `prediction`, or None when the task does not execute (a task executes
        only where its family can execute its language: checked by engine.tasks.task.Task)."""
        if not task.executable:
            return None
        return programs.build(task.language, example.meta, prediction)


@dataclass(frozen=True)
class GenerationFamily(Family):
    """NL → code: always code (a custom task declared as 'text' writes Python), executable where the
    output language has a program builder and the task has tests."""

    executed_metrics: tuple[str, ...] = ("pass@k", "codebleu")

    def output_language(self, declared: str) -> str:
        return "python" if declared == "text" else declared

    def can_execute(self, language: str) -> bool:
        return language in programs.EXECUTABLE_LANGUAGES

    def default_metrics(self, task: TaskFacts) -> tuple[str, ...]:
        return self.executed_metrics if task.executable else self.metrics


@dataclass(frozen=True)
class SummarizationFamily(Family):
    """Code → NL: the output is text, trained as "SUMMARY: … DONE" and cut back to the summary as the
    reference package did (the text after the last "SUMMARY:", up to the first "DONE")."""

    def output_language(self, declared: str) -> str:
        del declared
        return "text"

    def postprocess(self, task: TaskFacts, completion: str) -> str:
        del task
        return postprocess.strip_summary(completion)


# The reference study's prompts, verbatim (../shared/REFERENCE.md, "Prompts"; the replication package's
# `apply_chat_template`): the generation user turn is the task's input, which the generation loaders build
# as "{summary}\n\nFunction to implement:\n{signature}" (Java: "Method to implement:").
GENERATION = GenerationFamily(
    name="generation",
    system="You are an expert {language} developer. Generate complete and efficient {language} code based on the "
           "given specifications.",
    user="{input}",
    metrics=CODE_SIMILARITY,
)
TRANSLATION = Family(
    name="translation",
    system="You are an expert code translator. Translate code from the source language to the target language. "
           "Preserve semantics, be idiomatic in the target language, and output only the translated code\u2014no "
           "explanations.",
    user="Translate from {source} to {language}:\n{input}",
    metrics=CODE_SIMILARITY,
)
SUMMARIZATION = SummarizationFamily(
    name="summarization",
    system="You are an expert {source} developer. Provide clear and concise summarization for {source} code "
           "segments.",
    user="Summarize this {source} code:\n{input}",
    metrics=TEXT_SIMILARITY,
    target_template="SUMMARY: {target} DONE",
    stops=("DONE",),
)

BY_NAME: dict[str, Family] = {f.name: f for f in (GENERATION, TRANSLATION, SUMMARIZATION)}
if tuple(BY_NAME) != FAMILIES:  # pragma: no cover - a new family needs its behaviour object here
    raise RuntimeError(f"task families {tuple(BY_NAME)} differ from engine.vocabulary.FAMILIES {FAMILIES}")


def family(name: str) -> Family:
    """The behaviour object of family `name`; KeyError lists the families."""
    if name not in BY_NAME:
        raise KeyError(f"unknown task family {name!r}; known: {', '.join(BY_NAME)}")
    return BY_NAME[name]
