"""`codetune study SPEC --dry-run --show-prompts`: per task, one rendered training text and one
rendered inference prompt, exactly as the model sees them (engine.models.prompts) with the model's
chat template: the tokenizer of a local model folder (or --tokenizer), else the ChatML fallback
template, which the output says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.data import prepare as data
from engine.settings import Settings
from engine.spec import RunSpec, StudySpec, expand_study


@dataclass(frozen=True)
class TaskPrompts:
    """What one task's model sees: a training text and an inference prompt, with notes."""

    task: str
    example_train: str
    training_text: str
    example_test: str
    inference_prompt: str
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """As plain data."""
        return dict(self.__dict__)


def renderer(models: list[str], settings: Settings, tokenizer_path: str | None = None) -> tuple[Any, str]:
    """A tokenizer with its chat template (a local folder), else the ChatML fallback template; and a line
    saying which."""
    from engine.models.load import FALLBACK_CHAT_TEMPLATE, ensure_chat_ready
    from engine.models.prompts import TemplateOnly

    candidates = [tokenizer_path] if tokenizer_path else []
    candidates += models + [str(settings.models_dir / m) for m in models]
    for candidate in candidates:
        if candidate and Path(candidate).expanduser().is_dir():
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(Path(candidate).expanduser()))
            own = bool(getattr(tok, "chat_template", None))
            ensure_chat_ready(tok)
            what = "its own chat template" if own else "no chat template of its own: the ChatML fallback"
            return tok, f"template: the tokenizer in {candidate} ({what})"
    return TemplateOnly(FALLBACK_CHAT_TEMPLATE, eos_token="<|im_end|>"), (
        "template: ChatML fallback (no local model folder; for a conversation that opens with a system turn, "
        "Qwen2.5-Coder-Instruct's own template renders this same ChatML)")


def _runs(spec: StudySpec | RunSpec) -> list[RunSpec]:
    runs = [item.spec for item in expand_study(spec)] if isinstance(spec, StudySpec) else [spec]
    return sorted(runs, key=lambda r: not r.trains)  # a training run first: it shows the training form


def task_prompts(spec: StudySpec | RunSpec, settings: Settings, tokenizer_path: str | None = None,
                 ) -> tuple[list[TaskPrompts], str]:
    """Per task of the run or study (first seen in a training run), its rendered training text and
    inference prompt; and the template line."""
    from engine.models.prompts import TemplateOnly, inference_prompt, training_text, truncation, uses_human_assistant

    models = [m.id for m in spec.models] if isinstance(spec, StudySpec) else [spec.model.id]
    tok, template_note = renderer(models, settings, tokenizer_path)
    out: list[TaskPrompts] = []
    seen: set[str] = set()
    for run in _runs(spec):
        data_dir = Path(run.data_dir).expanduser() if run.data_dir else settings.data_dir
        for name, task in data.task_objects(run).items():
            if name in seen:
                continue
            seen.add(name)
            ctx = data.context_for(run, data_dir, name)
            train = task.load("train", ctx)[:1]
            test = task.load("test", ctx)[:1]
            notes = []
            if uses_human_assistant(task, run.eval):
                notes.append("inference: the reference package's plain 'Human: … Assistant:' template "
                             "(eval.translation_template: human_assistant), not the training template")
            limit = truncation(task, run.eval)
            if limit and isinstance(tok, TemplateOnly):
                notes.append(f"inference prompts are cut to their first {limit} tokens (not shown: no tokenizer "
                             "to count them)")
            elif limit and test:
                whole = run.eval.model_copy(update={"summary_prompt_tokens": None})
                if inference_prompt(tok, task, test[0], whole) != inference_prompt(tok, task, test[0], run.eval):
                    notes.append(f"this inference prompt is cut to its first {limit} tokens "
                                 "(eval.summary_prompt_tokens), as the package did")
            out.append(TaskPrompts(
                task=name,
                example_train=train[0].id if train else "",
                training_text=training_text(tok, task, train[0]) if train else "(no training example)",
                example_test=test[0].id if test else "",
                inference_prompt=inference_prompt(tok, task, test[0], run.eval) if test else "(no test example)",
                notes=tuple(notes)))
    return out, template_note


def render(prompts: list[TaskPrompts], template_note: str) -> str:
    """The prompts as text, each between rulers so whitespace shows exactly."""
    rule = "-" * 72
    lines = ["prompts, as the model sees them", template_note, ""]
    for p in prompts:
        lines.append(f"== {p.task}")
        lines.extend(f"   note: {n}" for n in p.notes)
        lines += [f"-- training text ({p.example_train}):", rule, p.training_text, rule]
        lines += [f"-- inference prompt ({p.example_test}):", rule, p.inference_prompt, rule, ""]
    return "\n".join(lines)


def show(spec: StudySpec | RunSpec, settings: Settings, tokenizer_path: str | None = None) -> dict[str, Any]:
    """The prompts as data and text (engine.api.show_prompts)."""
    prompts, template = task_prompts(spec, settings, tokenizer_path)
    return {"template": template, "tasks": [p.to_dict() for p in prompts], "text": render(prompts, template)}
