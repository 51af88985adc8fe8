"""The fidelity view: a run's or a study's settings side by side with the reference recipe
(../shared/REFERENCE.md, engine.spec.recipe), every difference named with its field, the paper's
value, this value and what it is known to change. Differences that remain by necessity (data or
harnesses not available offline) are marked `necessary`; none is left out.

`differences(spec, data_dir)` compares one RunSpec; `study_differences(study, data_dir)` compares every
run of a study and merges the differences they share (with the runs each applies to); `render` gives
the dry run's lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from engine.spec import recipe
from engine.spec.run import PAPER_TARGET_MODULES, RunSpec
from engine.spec.schedule import resolve
from engine.spec.study import StudySpec, expand_study

PAPER_MODELS = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-3b-instruct")


@dataclass(frozen=True)
class Difference:
    """One setting where a run differs from the reference recipe."""

    field: str
    paper: str
    this: str
    effect: str
    necessary: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The difference as a plain dict."""
        return asdict(self)


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


# field, paper value (given the run), this value (given the run), what a difference is known to change
Check = tuple[str, Callable[[RunSpec], Any], Callable[[RunSpec], Any], str]


def _qlora_like(spec: RunSpec) -> bool:
    return spec.method != "fft"


TRAIN_CHECKS: list[Check] = [
    ("lora.r", lambda s: 8, lambda s: s.lora.r, "adapter capacity (trainable parameters)"),
    ("lora.alpha", lambda s: 16, lambda s: s.lora.alpha, "the adapter's effective learning rate (alpha / r)"),
    ("lora.dropout", lambda s: 0.1, lambda s: s.lora.dropout, "regularisation of the adapter"),
    ("lora.target_modules", lambda s: PAPER_TARGET_MODULES, lambda s: s.lora.target_modules,
     "which layers adapt, and the trainable parameter count"),
    ("train.learning_rate", lambda s: 1e-4, lambda s: s.train.learning_rate, "every fine-tuned result"),
    ("train.scheduler", lambda s: "cosine", lambda s: s.train.scheduler, "the learning-rate curve"),
    ("train.batch_size × train.grad_accum", lambda s: recipe.EFFECTIVE_BATCH, lambda s: s.train.effective_batch,
     "examples per optimiser step, and so the number of steps"),
    ("train.epochs", lambda s: recipe.EPOCHS, lambda s: s.train.epochs,
     "the length of the run (before early stopping)"),
    ("train.max_steps", lambda s: None, lambda s: s.train.max_steps, "cuts the run short of its epochs"),
    ("train.max_length", lambda s: recipe.PACKED_LENGTH, lambda s: s.train.max_length,
     "sequence length, packing and the number of steps"),
    ("train.packing", lambda s: True, lambda s: s.train.packing, "how many examples share a sequence, and the steps"),
    ("train.packing_strategy", lambda s: "wrapped", lambda s: s.train.packing_strategy if s.train.packing else
     "wrapped", "sequence boundaries (TRL 0.9.6 concatenated and cut; 'wrapped' is the closest)"),
    ("train.completion_only_loss", lambda s: False, lambda s: s.train.completion_only_loss,
     "the paper trained on the whole packed text, prompts included"),
    ("train.precision", lambda s: "bf16", lambda s: s.train.precision, "numerics of training"),
    ("train.optimizer", lambda s: "adamw_8bit" if _qlora_like(s) else "adamw", lambda s: s.train.optimizer,
     "optimiser state precision (8-bit AdamW for QLoRA, AdamW for full fine-tuning)"),
    ("train.gradient_checkpointing", lambda s: not _qlora_like(s), lambda s: s.train.gradient_checkpointing,
     "memory and speed only"),
    ("train.speed", lambda s: "reference", lambda s: s.train.speed,
     "speed and memory only: the same examples per optimiser step, loss and attention (the paper's wrapped "
     "512-token rows are kept as they are); a GPU may run fewer, larger micro-batches and drop gradient "
     "checkpointing where memory allows, and the loss is summed in chunks: the numbers differ from the "
     "reference path's by float rounding and LoRA dropout draws (engine.models.fast)"),
    ("train.logging_steps", lambda s: 50, lambda s: s.train.logging_steps, "the logged loss curve's granularity only"),
    ("train.save_total_limit", lambda s: 3, lambda s: s.train.save_total_limit, "disk use only"),
    ("train.seed", lambda s: 42, lambda s: s.train.seed, "the mixture's shuffle and the adapters' initialisation"),
    ("train.decontaminate", lambda s: False, lambda s: s.train.decontaminate,
     "the paper kept the translation train/test overlap (43 / 59 of 1,000 test inputs)"),
    ("train.valid_limit", lambda s: None, lambda s: s.train.valid_limit,
     "which validation rows early stopping sees (the paper drew from every validation row)"),
    ("train.early_stopping_patience", lambda s: recipe.PATIENCE, lambda s: s.train.early_stopping_patience,
     "when a run stops, and which checkpoint is kept"),
    ("train.early_stopping_threshold", lambda s: recipe.THRESHOLD, lambda s: s.train.early_stopping_threshold,
     "what counts as an improvement"),
    ("mixture.mode", lambda s: "proportional", lambda s: s.mixture.mode,
     "the tasks' shares (the paper concatenated every training set)"),
    ("mixture.total", lambda s: None, lambda s: s.mixture.total, "the number of training examples"),
]
QUANT_CHECKS: list[Check] = [
    ("quant.quant_type", lambda s: "nf4", lambda s: s.quant.quant_type, "the 4-bit base's quantisation error"),
    ("quant.double_quant", lambda s: True, lambda s: s.quant.double_quant, "memory, and slightly the base's error"),
    ("quant.compute_dtype", lambda s: "bfloat16", lambda s: s.quant.compute_dtype, "numerics of the forward pass"),
]
EVAL_CHECKS: list[Check] = [
    ("eval.n_samples", lambda s: 1, lambda s: s.eval.n_samples, "pass@1 is estimated from more samples"),
    ("eval.temperature", lambda s: 0.0, lambda s: s.eval.temperature, "greedy vs sampled outputs"),
    ("eval.max_new_tokens", lambda s: None, lambda s: s.eval.max_new_tokens,
     "long outputs are cut (the paper: 512 new tokens for code, 128 for summaries)"),
    ("eval.limit", lambda s: None, lambda s: s.eval.limit, "only a subset of the test set is evaluated"),
    ("eval.keep_docstrings", lambda s: True, lambda s: s.eval.keep_docstrings,
     "99 of 100 CoderEval Python inputs hold their docstring, which overlaps the reference summary: the "
     "paper's Python summarization scores include that leak"),
    ("eval.meteor_tokenize", lambda s: "split", lambda s: s.eval.meteor_tokenize,
     "METEOR's tokens (the paper split on whitespace): its values"),
    ("eval.translation_template", lambda s: "human_assistant", lambda s: s.eval.translation_template,
     "the paper's translation models were evaluated with a plain 'Human: … Assistant:' template, not the one "
     "they were trained with, and its output cleaning: translation CodeBLEU"),
    ("eval.summary_prompt_tokens", lambda s: 512, lambda s: s.eval.summary_prompt_tokens,
     "long summarization inputs were cut to 512 prompt tokens, losing the end of the code and the assistant "
     "header"),
]


def _compare(spec: RunSpec, checks: Iterable[Check]) -> list[Difference]:
    out = []
    for field, paper, this, effect in checks:
        expected, actual = paper(spec), this(spec)
        if isinstance(expected, float) and isinstance(actual, (int, float)) and abs(expected - actual) < 1e-12:
            continue
        if expected != actual:
            out.append(Difference(field, _fmt(expected), _fmt(actual), effect))
    return out


def _setup(spec: RunSpec) -> list[Difference]:
    out = []
    if spec.model.short_name.lower() not in PAPER_MODELS:
        out.append(Difference("model.id", "Qwen/Qwen2.5-Coder-{0.5B,1.5B,3B}-Instruct", spec.model.id,
                              "another base model: the paper's numbers do not apply"))
    if spec.method == "lora":
        out.append(Difference("method", "qlora (ST and MT) or fft (MT)", "lora",
                              "a full-precision frozen base: no 4-bit quantisation error"))
    elif spec.method == "fft" and not spec.is_multitask:
        out.append(Difference("method", "fft only multi-task (MT-FFT)", "fft single-task",
                              "a configuration the paper did not run"))
    return out


def _schedule(spec: RunSpec) -> list[Difference]:
    script = recipe.script_for(spec.families)
    plan = resolve(spec)
    paper_total = recipe.paper_steps(spec.families)
    out = []
    where = f" ({script.label})"
    if spec.train.schedule != "paper":
        scaled = spec.train.schedule == "paper_scaled"
        effect = ("the same fractions of the run as the paper's (the paper's steps assume its full data: on the "
                  "public sample 1,000 warm-up steps exceed whole single-task runs)" if scaled else
                  "when the learning rate peaks, and whether ST and MT runs warm up alike")
        this = (f"{plan.warmup:.2%} of the run" if isinstance(plan.warmup, float) and plan.warmup < 1
                else f"{plan.warmup} steps")
        out.append(Difference("train.warmup", f"{script.warmup_steps} steps of ~{paper_total:,}{where}", this, effect))
        every = plan.eval_every
        this = ("no evaluation" if every is None else f"every {every:.2%} of the run"
                if isinstance(every, float) and every < 1 else f"every {every} steps")
        out.append(Difference("train.eval_cadence", f"every {script.eval_steps} steps{where}", this,
                              "how often early stopping looks, and which checkpoints exist"))
    paper_metric = script.metric
    if plan.metric != paper_metric and not (len(spec.families) == 1 and plan.metric == "combined"):
        out.append(Difference("train.early_stopping_metric", f"{paper_metric} (teacher-forced){where}", plan.metric,
                              "which checkpoint is kept and when a run stops"))
    if plan.metric != "loss":
        out.append(Difference("train.early_stopping_metric (computation)", "teacher-forced argmax over whole packed "
                              "512-token validation sequences, prompts included (summary rows: a sequence's last "
                              "summary)", "teacher-forced argmax per validation example, unpacked, its completion "
                              "tokens only", "the metric's values (not comparable with the package's training logs) "
                              "and, through them, which checkpoint is kept"))
    if plan.eval_rows != script.eval_rows:
        note = f"; {script.note}" if script.note else ""
        out.append(Difference("train.eval_rows", f"{script.eval_rows}{where}{note}", _fmt(plan.eval_rows or "all"),
                              "how noisy the early-stopping metric is, and the time each evaluation takes"))
    return out


def _tasks(spec: RunSpec, data_dir: Path | None) -> list[Difference]:
    from engine.tasks import corpora

    out = []
    names = spec.task_names
    options = {t.name: t.options for t in spec.tasks}
    for name in names:
        opts = options[name]
        if name.startswith("sum-"):
            if opts.get("train_form", "raw") != "tokens" and spec.trains:
                out.append(Difference(f"tasks[{name}].options.train_form", "tokens", _fmt(opts.get("train_form",
                                      "raw")), "trains on raw code and docstring summaries instead of the "
                                      "whitespace-joined code_tokens and docstring_tokens"))
            if opts.get("eval_set", "codereval") != "codereval":
                out.append(Difference(f"tasks[{name}].options.eval_set", "codereval", _fmt(opts["eval_set"]),
                                      "another test set: the paper's numbers do not apply"))
            language = "python" if name == "sum-python" else "java"
            if spec.trains and data_dir is not None and corpora.source(data_dir, language, "train") == "sample":
                paper_rows = recipe.PAPER_TASK_DATA[name][0]
                out.append(Difference(f"data[{name}].train", f"CodeXGLUE code-to-text, {paper_rows:,} rows",
                                      "the public sample (about 1% of it)", "how much the model learns the task; "
                                      "`codetune data fetch codexglue` gets the full set", necessary=True))
        if name.startswith("gen-"):
            test = recipe.PAPER_TASK_DATA[name][1]
            ours = ("HumanEval-X Java (164)" if name == "gen-java" else
                    f"{'MBPP' if opts.get('eval_set') == 'mbpp' else 'HumanEval'} (Python)")
            out.append(Difference(f"data[{name}].test", test, ours, "another benchmark: CoderEval's executable "
                                  "harness is not available offline, so pass@1 is not comparable", necessary=True))
            if spec.trains:
                source = "MBPP 601-974" if name == "gen-python" else (
                    "CONCODE dev" if opts.get("train_source") == "concode" else "code-to-text Java pairs")
                out.append(Difference(f"data[{name}].train", "the package's CodeXGLUE-derived set (unpublished)",
                                      source, "the training data of the generation task", necessary=True))
            out.append(Difference(f"postprocess[{name}]", "the raw completion, cut at 'Human:', to CoderEval's "
                                  "harness", "code extracted from fences (Python: its definitions)",
                                  "what is executed: needed to run HumanEval's tests", necessary=True))
    return out


def differences(spec: RunSpec, data_dir: Path | None = None) -> list[Difference]:
    """Every difference between `spec` and the reference recipe (training settings only when it trains);
    `data_dir` (or the spec's own) tells whether the full code-to-text sets were fetched."""
    out = _setup(spec)
    if spec.trains:
        if spec.method == "qlora":
            out.extend(_compare(spec, QUANT_CHECKS))
        checks = [c for c in TRAIN_CHECKS if not c[0].startswith("lora.") or spec.method in ("qlora", "lora")]
        out.extend(_compare(spec, checks))
        out.extend(_schedule(spec))
    families = set(spec.families)
    checks = [c for c in EVAL_CHECKS
              if not ((c[0] == "eval.keep_docstrings" or c[0] == "eval.summary_prompt_tokens"
                       or c[0] == "eval.meteor_tokenize") and "summarization" not in families)
              and not (c[0] == "eval.translation_template" and "translation" not in families)]
    out.extend(_compare(spec, checks))
    out.extend(_tasks(spec, Path(spec.data_dir).expanduser() if spec.data_dir else data_dir))
    return out


def study_differences(spec: RunSpec | StudySpec, data_dir: Path | None = None) -> list[dict[str, Any]]:
    """The differences of a run, or of every run of a study merged: each with `runs`, the run ids it
    applies to, and `all_runs` when it applies to every run."""
    runs = [item.spec for item in expand_study(spec)] if isinstance(spec, StudySpec) else [spec]
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for run in runs:
        for diff in differences(run, data_dir):
            key = (diff.field, diff.paper, diff.this)
            merged.setdefault(key, {**diff.to_dict(), "runs": []})["runs"].append(run.run_id())
    ids = {r.run_id() for r in runs}
    return [{**d, "all_runs": set(d["runs"]) == ids} for d in merged.values()]


def render(merged: list[dict[str, Any]], total_runs: int) -> list[str]:
    """The dry run's fidelity lines: chosen differences first, then those that remain by necessity."""
    if not merged:
        return ["fidelity: every setting matches the reference recipe (../shared/REFERENCE.md)"]
    lines = [f"fidelity: {len(merged)} difference(s) from the reference recipe (../shared/REFERENCE.md)"]
    for necessary in (False, True):
        group = [d for d in merged if d["necessary"] is necessary]
        if not group:
            continue
        lines.append("  remaining by necessity:" if necessary else "  chosen in this spec:")
        for d in group:
            scope = "all runs" if d["all_runs"] else f"{len(d['runs'])} of {total_runs} runs"
            lines.append(f"    {d['field']}: paper {d['paper']} · this {d['this']} [{scope}]")
            lines.append(f"      changes: {d['effect']}")
    return lines
