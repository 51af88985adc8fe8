"""What a model sees: a task's training text and inference prompt under a chat template, with the
reference study's inference options, and the prediction made of a completion.

- `eval.translation_template: human_assistant` renders translation inference prompts with the plain
  'Human: … Assistant:' template the reference package's translation inference scripts set on the
  tokenizer (their quirk: the models were trained with the model's own chat template), and cleans the
  output as those scripts did (engine.tasks.postprocess.package_translation).
- `eval.summary_prompt_tokens: N` keeps the first N tokens of each summarization inference prompt, as
  the package's `tokenizer(..., truncation=True, max_length=512)` did (the tokenizer's default
  right-side truncation: a longer prompt loses the end of its code and the assistant header).

Without a tokenizer (a dry run whose model is not a local folder), `TemplateOnly` renders a chat
template with jinja2 the way transformers does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.tasks import postprocess

if TYPE_CHECKING:  # pragma: no cover
    from engine.spec import EvalSpec
    from engine.tasks.base import Example
    from engine.tasks.task import Task

# verbatim from the package's translation/infer_translation_{qlora,fft}.py
HUMAN_ASSISTANT_TEMPLATE = (
    "{%- for message in messages -%}\n{% if message['role'] == 'system' %}{% if loop.first %}"
    "{{ message['content'] + '\n' }}{% endif %}{% elif message['role'] == 'user' %}"
    "{{ '\nHuman: ' + message['content'] + '\n\n' }}{% elif message['role'] == 'assistant' %}"
    "{{ 'Assistant: ' + message['content'] + '\n\n' }}{% endif %}\n{%- endfor -%}\n"
    "{% if add_generation_prompt %}Assistant: {% endif %}"
)


class TemplateOnly:
    """A chat template without a tokenizer: renders like `tokenizer.apply_chat_template(tokenize=False)`
    (jinja2 with trim_blocks and lstrip_blocks, as transformers compiles templates)."""

    def __init__(self, chat_template: str, eos_token: str = ""):
        self.chat_template = chat_template
        self.eos_token = eos_token

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool = False,
                            add_generation_prompt: bool = False, chat_template: str | None = None) -> str:
        """The rendered conversation (text only: `tokenize` must be False)."""
        if tokenize:
            raise ValueError("TemplateOnly renders text only")
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        template = env.from_string(chat_template or self.chat_template)
        return template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                               eos_token=self.eos_token)


def uses_human_assistant(task: Task, evaluation: EvalSpec) -> bool:
    """Whether `task`'s inference uses the package's plain Human/Assistant template."""
    return task.family == "translation" and evaluation.translation_template == "human_assistant"


def truncation(task: Task, evaluation: EvalSpec) -> int | None:
    """The token limit on `task`'s inference prompts, if any (summarization only, as the package)."""
    return evaluation.summary_prompt_tokens if task.family == "summarization" else None


def training_text(tokenizer: Any, task: Task, example: Example) -> str:
    """The whole conversation a model is trained on (system, user and assistant turns), rendered."""
    messages = [*task.messages(example), {"role": "assistant", "content": task.target(example)}]
    return tokenizer.apply_chat_template(messages, tokenize=False)


def keep_first_tokens(tokenizer: Any, text: str, limit: int) -> str:
    """`text` cut after its first `limit` tokens (unchanged when shorter)."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=getattr(tokenizer, "is_fast", False))
    ids = encoded["input_ids"]
    if len(ids) <= limit:
        return text
    offsets = encoded.get("offset_mapping")
    if offsets:
        return text[: offsets[limit - 1][1]]
    return tokenizer.decode(ids[:limit])


def inference_prompt(tokenizer: Any, task: Task, example: Example, evaluation: EvalSpec) -> str:
    """The prompt a model completes at evaluation, ending where the assistant turn starts (cut to
    eval.summary_prompt_tokens for summarization; the package's template for translation when
    eval.translation_template is human_assistant)."""
    template = HUMAN_ASSISTANT_TEMPLATE if uses_human_assistant(task, evaluation) else None
    prompt = tokenizer.apply_chat_template(task.messages(example), tokenize=False, add_generation_prompt=True,
                                           **({"chat_template": template} if template else {}))
    limit = truncation(task, evaluation)
    if limit and not isinstance(tokenizer, TemplateOnly):
        prompt = keep_first_tokens(tokenizer, prompt, limit)
    return prompt


def prediction(task: Task, completion: str, example: Example, evaluation: EvalSpec) -> str:
    """The prediction scored for a completion: the task family's post-processing, or the package's
    translation cleaning with its Human/Assistant template."""
    if uses_human_assistant(task, evaluation):
        return postprocess.package_translation(completion)
    return task.postprocess(completion, example)
