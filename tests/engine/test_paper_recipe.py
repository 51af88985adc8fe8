"""The reference recipe (../shared/REFERENCE.md) as the `paper` preset runs it: per task, the rendered
training text and inference prompt against the strings of REFERENCE.md; the translation-inference
template quirk and its output cleaning; summarization prompts cut to 512 tokens; the summary cut."""

from __future__ import annotations

import gzip
import json

import pytest

from engine.models.load import FALLBACK_CHAT_TEMPLATE
from engine.models.prompts import (
    HUMAN_ASSISTANT_TEMPLATE,
    TemplateOnly,
    inference_prompt,
    keep_first_tokens,
    prediction,
    training_text,
)
from engine.spec import EvalSpec, RunSpec, StudySpec
from engine.spec.presets import load_preset
from engine.tasks import postprocess
from engine.tasks.base import DataContext, read_jsonl
from engine.tasks.registry import get_task

# --- the strings of ../shared/REFERENCE.md ("Prompts, exactly as in the package") -----------------
GEN_SYSTEM = {
    "python": "You are an expert Python developer. Generate complete and efficient Python code based on the "
              "given specifications.",
    "java": "You are an expert Java developer. Generate complete and efficient Java code based on the given "
            "specifications.",
}
GEN_USER = {"python": "{summary}\n\nFunction to implement:\n{signature}",
            "java": "{summary}\n\nMethod to implement:\n{signature}"}
SUM_SYSTEM = {
    "python": "You are an expert Python developer. Provide clear and concise summarization for Python code segments.",
    "java": "You are an expert Java developer. Provide clear and concise summarization for Java code segments.",
}
SUM_USER = {"python": "Summarize this Python code:\n{code}", "java": "Summarize this Java code:\n{code}"}
SUM_TARGET = "SUMMARY: {summary} DONE"
TRANS_SYSTEM = ("You are an expert code translator. Translate code from the source language to the target "
                "language. Preserve semantics, be idiomatic in the target language, and output only the translated "
                "code\u2014no explanations.")
TRANS_USER = {"trans-java-cs": "Translate from Java to C#:\n{code}",
              "trans-cs-java": "Translate from C# to Java:\n{code}"}


def chatml(system: str, user: str, assistant: str | None = None) -> str:
    """A conversation as Qwen2.5-Coder-Instruct's ChatML renders it (system turn given)."""
    text = f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
    return text + f"{assistant}<|im_end|>\n" if assistant is not None else text


def human_assistant(system: str, user: str) -> str:
    """The package's translation inference prompt ('Human: … Assistant:' template, generation prompt on)."""
    return f"{system}\n\nHuman: {user}\n\nAssistant: "


PAPER_EVAL = EvalSpec(keep_docstrings=True, meteor_tokenize="split", summary_prompt_tokens=512,
                      translation_template="human_assistant")
RENDER = TemplateOnly(FALLBACK_CHAT_TEMPLATE)


def _first(task: str, split: str, data_dir, **options):
    ctx = DataContext(data_dir, options=options, keep_docstrings=PAPER_EVAL.keep_docstrings)
    return get_task(task).load(split, ctx)[0]


@pytest.mark.parametrize("language", ["python", "java"])
def test_generation_prompts_are_the_papers(data_dir, language):
    name = f"gen-{language}"
    task = get_task(name)
    for split in ("train", "test"):
        ex = _first(name, split, data_dir)
        user = GEN_USER[language].format(summary=ex.meta["summary"].strip(), signature=ex.meta["signature"].strip())
        assert ex.input == user
        if split == "train":
            assert training_text(RENDER, task, ex) == chatml(GEN_SYSTEM[language], user, ex.target)
        else:
            assert inference_prompt(RENDER, task, ex, PAPER_EVAL) == chatml(GEN_SYSTEM[language], user)


def _sample_row(data_dir, url):
    for path in sorted((data_dir / "codexglue_code2text").glob("*/test.jsonl")):
        for _, rec in read_jsonl(path):
            if rec["url"] == url:
                return rec
    raise AssertionError(url)


@pytest.mark.parametrize("language", ["python", "java"])
def test_summarization_prompts_are_the_papers(data_dir, language):
    name = f"sum-{language}"
    task = get_task(name)
    train = _first(name, "train", data_dir, train_form="tokens")
    row = _sample_row(data_dir, train.meta["url"])
    user = SUM_USER[language].format(code=" ".join(row["code_tokens"]))
    target = SUM_TARGET.format(summary=" ".join(row["docstring_tokens"]))
    assert training_text(RENDER, task, train) == chatml(SUM_SYSTEM[language], user, target)
    # inference: the CoderEval input verbatim, docstrings kept
    test = _first(name, "test", data_dir)
    file = {"python": "cs_codereval_eval_dataset_py_v2.jsonl", "java": "cs_codereval_eval_dataset_java_v2.jsonl"}
    record = next(rec for _, rec in read_jsonl(data_dir / "codereval_summarization" / file[language]))
    expected = chatml(SUM_SYSTEM[language], SUM_USER[language].format(code=record["code"]))
    assert inference_prompt(RENDER, task, test, PAPER_EVAL) == expected


@pytest.mark.parametrize("name", ["trans-java-cs", "trans-cs-java"])
def test_translation_prompts_are_the_papers_and_so_is_the_inference_quirk(data_dir, name):
    task = get_task(name)
    source, target = ("java", "cs") if name == "trans-java-cs" else ("cs", "java")
    folder = data_dir / "codexglue_code2code_trans"

    def line(split, ext):
        return (folder / f"{split}.java-cs.txt.{ext}").read_text(encoding="utf-8").split("\n")[0]

    train = _first(name, "train", data_dir)
    user = TRANS_USER[name].format(code=line("train", source))
    assert training_text(RENDER, task, train) == chatml(TRANS_SYSTEM, user, line("train", target))
    test = _first(name, "test", data_dir)
    user = TRANS_USER[name].format(code=line("test", source))
    # the package generated with a plain 'Human: … Assistant:' template: not the one it trained with
    assert inference_prompt(RENDER, task, test, PAPER_EVAL) == human_assistant(TRANS_SYSTEM, user)
    # ... and with the model's own template when the quirk is off
    assert inference_prompt(RENDER, task, test, EvalSpec()) == chatml(TRANS_SYSTEM, user)


def test_the_template_renderer_renders_as_transformers_does(tiny_qwen):
    from transformers import AutoTokenizer

    from engine.models.load import ensure_chat_ready

    tok = AutoTokenizer.from_pretrained(str(tiny_qwen))
    ensure_chat_ready(tok)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U\nx"}]
    for template in (FALLBACK_CHAT_TEMPLATE, HUMAN_ASSISTANT_TEMPLATE):
        for generation in (True, False):
            ours = TemplateOnly(template).apply_chat_template(messages, add_generation_prompt=generation)
            assert ours == tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                                   add_generation_prompt=generation)
    assert TemplateOnly(HUMAN_ASSISTANT_TEMPLATE).apply_chat_template(
        messages, add_generation_prompt=True) == "S\n\nHuman: U\nx\n\nAssistant: "


def test_summarization_prompts_are_cut_to_their_first_tokens(tiny_qwen, data_dir):
    from transformers import AutoTokenizer

    from engine.models.load import ensure_chat_ready

    tok = AutoTokenizer.from_pretrained(str(tiny_qwen))
    ensure_chat_ready(tok)
    task = get_task("sum-python")
    test = _first("sum-python", "test", data_dir)
    whole = inference_prompt(tok, task, test, EvalSpec())
    cut = inference_prompt(tok, task, test, EvalSpec(summary_prompt_tokens=20))
    assert whole.startswith(cut) and cut != whole
    assert len(tok(cut, add_special_tokens=False)["input_ids"]) == 20
    # as the package: the tokenizer's right-side truncation drops the end, assistant header included
    assert not cut.endswith("<|im_start|>assistant\n")
    assert keep_first_tokens(tok, "short", 20) == "short"
    # translation and generation prompts are never cut
    trans = get_task("trans-java-cs")
    ex = _first("trans-java-cs", "test", data_dir)
    assert inference_prompt(tok, trans, ex, EvalSpec(summary_prompt_tokens=5)) == inference_prompt(
        tok, trans, ex, EvalSpec())


@pytest.mark.parametrize(("completion", "expected"), [
    ("SUMMARY: Adds two numbers. DONE", "Adds two numbers."),
    ("The SUMMARY: first SUMMARY: second DONE tail DONE", "second"),  # after the last SUMMARY:
    ("no markers here  ", "no markers here"),
    ("summary: lower case is not a marker DONE", "summary: lower case is not a marker"),
    ("SUMMARY: UNDONE work", "UN"),  # the package split on any 'DONE'
])
def test_summaries_are_cut_as_the_package_cut_them(completion, expected):
    assert postprocess.strip_summary(completion) == expected
    assert get_task("sum-java").postprocess(completion, None) == expected


@pytest.mark.parametrize(("completion", "expected"), [
    ("public int A() { return 1; }", "public int A() { return 1; }"),
    ("public int A() {}\n\nHuman: more\n\nAssistant: int B() {}", "int B() {}"),
    ("```java\nint a() {}\n```\ntext", "int a() {}"),
    ("```csharp\nint A() {}\n```", "csharp\nint A() {}"),  # the package's own quirk, kept verbatim
    ("```\nint A() {}\n```", "int A() {}"),
])
def test_the_packages_translation_cleaning_applies_with_its_template(completion, expected):
    task = get_task("trans-java-cs")
    assert prediction(task, completion, None, PAPER_EVAL) == expected
    assert prediction(task, "```csharp\nint A() {}\n```", None, EvalSpec()) == "int A() {}"


# --- the presets ---------------------------------------------------------------------------------


def _eval_of(spec: StudySpec | RunSpec) -> dict:
    return spec.base["eval"] if isinstance(spec, StudySpec) else spec.eval.model_dump()


@pytest.mark.parametrize("name", ["paper", "paper-rq3", "paper-mt-qlora-0.5b"])
def test_the_paper_presets_carry_the_papers_conventions(name):
    spec = load_preset(name)
    evaluation = _eval_of(spec)
    assert evaluation["keep_docstrings"] is True and evaluation["meteor_tokenize"] == "split"
    assert evaluation["summary_prompt_tokens"] == 512 and evaluation["translation_template"] == "human_assistant"
    tasks = {t.name: t.options for t in spec.tasks}
    assert tasks["sum-python"] == tasks["sum-java"] == {"train_form": "tokens"}


def test_rq3_runs_the_two_task_ablations_at_3b():
    from engine.spec import expand_study

    runs = expand_study(load_preset("paper-rq3"))
    assert [r.spec.families for r in runs] == [["generation", "summarization", "translation"],
                                               ["generation", "summarization"], ["generation", "translation"],
                                               ["summarization", "translation"]]
    assert {r.spec.model.id for r in runs} == {"Qwen/Qwen2.5-Coder-3B-Instruct"}
    assert {r.spec.label for r in runs} == {"MT-QLoRA"}


def test_humaneval_prompts_in_the_shared_data_are_the_loaders_source(data_dir):
    # the generation inference prompt's summary and signature come from HumanEval's own prompt
    with gzip.open(data_dir / "humaneval" / "HumanEval.jsonl.gz", "rt", encoding="utf-8") as fh:
        first = json.loads(fh.readline())
    ex = _first("gen-python", "test", data_dir)
    assert ex.meta["signature"].split("\n")[-1] in first["prompt"]


def test_meteor_tokenises_as_the_spec_says_in_the_score_phase(tmp_path, data_dir):
    import pyarrow as pa

    from engine.phases import prepare, score
    from engine.phases.context import PhaseContext
    from engine.phases.parts import read_rows
    from engine.runs.rundir import GENERATIONS_SCHEMA, RunDir, write_table_atomic
    from engine.scoring.metrics.base import MetricUnavailableError
    from engine.scoring.metrics.meteor import require_wordnet
    from engine.settings import load_settings
    from engine.spec import parse_run_spec

    try:
        require_wordnet()
    except MetricUnavailableError as exc:
        pytest.skip(str(exc))
    values = {}
    for tokenize in ("word_tokenize", "split"):
        spec = parse_run_spec({"model": "a/b", "method": "none", "data_dir": str(data_dir), "tasks": ["sum-java"],
                               "eval": {"limit": 1, "metrics": ["meteor"], "meteor_tokenize": tokenize}})
        run = RunDir(tmp_path / tokenize)
        run.path.mkdir()
        run.spec_path.write_text(spec.to_json())
        ctx = PhaseContext(run=run, spec=spec, settings=load_settings())
        prepare.run(ctx)
        (ex,) = ctx.eval_examples()
        words = ex.target.split()
        prediction = " ".join([*words[:-1], words[-1].rstrip("."), "."])  # "… word ." against "… word."
        write_table_atomic(run.artifact("generations"), pa.Table.from_pylist([{
            "run_id": run.run_id, "task": ex.task, "sample_id": ex.id, "sample_index": 0, "prompt": "",
            "completion": prediction, "prediction": prediction, "reference": ex.target, "prompt_tokens": 1,
            "completion_tokens": 1, "latency_s": 0.1, "batch_size": 1, "finish_reason": "eos"}],
            schema=GENERATIONS_SCHEMA))
        score.run(ctx)
        values[tokenize] = read_rows(run.artifact("scores"))[0]["value"]
    assert values["split"] < values["word_tokenize"]
