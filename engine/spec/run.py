"""The run spec: RunSpec and its parts (model, method, LoRA, quantisation, tasks, mixture, training,
evaluation, resources, custom tasks), plus the hashing and merging helpers specs share.

Single-task vs multi-task is derived from the number of task *families*, never stored. `spec_hash()`
identifies a spec (its name and data directory are labels, not identity).
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from engine.vocabulary import config_label
from engine.vocabulary import is_multitask as families_are_multitask

Method = Literal["qlora", "lora", "fft", "none"]
PAPER_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class StrictModel(BaseModel):
    """Unknown keys are errors (typos must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class ModelSpec(StrictModel):
    """The base model: a Hugging Face id or a local folder."""

    id: str = Field(min_length=1, description="Hugging Face model id or local folder")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    gguf_file: str | None = Field(None, description="load this GGUF file from the folder / repo")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    trust_remote_code: bool = Field(False, description="run the model repo's own code (opt-in)")

    @property
    def short_name(self) -> str:
        """The last component of the model id or folder path."""
        return self.id.rstrip("/").split("/")[-1]


class LoraSpec(StrictModel):
    """LoRA adapter settings (used by methods qlora and lora)."""

    r: int = Field(8, gt=0, le=1024)
    alpha: int = Field(16, gt=0)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(default_factory=lambda: list(PAPER_TARGET_MODULES), min_length=1)
    bias: Literal["none", "all", "lora_only"] = "none"


class QuantSpec(StrictModel):
    """4-bit quantisation of the frozen base (method qlora)."""

    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"


class TaskEntry(StrictModel):
    """One task of the mixture, with its optional weight, cap and task-specific options."""

    name: str = Field(min_length=1)
    weight: float | None = Field(None, gt=0, description="relative weight (mixture mode 'explicit')")
    cap: int | None = Field(None, gt=0, description="at most this many training examples")
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)


class MixtureSpec(StrictModel):
    """How the training sets of several tasks are combined."""

    mode: Literal["proportional", "temperature", "explicit"] = "proportional"
    temperature: float = Field(1.0, gt=0, description="mode 'temperature': p_i ∝ n_i^(1/T)")
    total: int | None = Field(None, gt=0, description="total examples (default: the natural total)")


class TrainSpec(StrictModel):
    """Training settings (ignored by method 'none').

    Warm-up and the evaluation cadence are optimiser steps (warmup_steps, eval_steps) or fractions of
    the run (warmup_ratio, eval_fraction), or `schedule: paper` / `paper_scaled` for the reference
    package's values per kind of run (engine.spec.schedule). Early stopping selects on the validation
    loss or on a teacher-forced generation metric (engine.models.teacher_forced)."""

    learning_rate: float = Field(1e-4, gt=0, lt=1)
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_steps: int = Field(0, ge=0, description="warm-up optimiser steps")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="warm-up as a fraction of the run's optimiser steps "
                                "(0: use warmup_steps)")
    schedule: Literal["given", "paper", "paper_scaled"] = Field(
        "given", description="given: the warm-up and eval cadence set here; paper: the reference package's for this "
        "kind of run (ST generation / summarization / translation, MT) in steps; paper_scaled: those scaled by this "
        "run's optimiser steps over the paper's run (its proportions on any amount of data)")
    epochs: float = Field(1.0, gt=0)
    max_steps: int | None = Field(None, gt=0, description="stop after this many optimiser steps")
    batch_size: int = Field(2, gt=0, description="per-device batch size")
    grad_accum: int = Field(16, gt=0, description="gradient accumulation steps")
    max_length: int = Field(512, ge=16, le=131072)
    packing: bool = False
    packing_strategy: Literal["wrapped", "bfd"] = "wrapped"
    completion_only_loss: bool = True
    gradient_checkpointing: bool = False
    optimizer: Literal["adamw", "adamw_8bit", "paged_adamw_8bit", "sgd", "adafactor"] = "adamw"
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    seed: int = 42
    early_stopping_patience: int | None = Field(None, gt=0, description="stop after this many evaluations "
                                                "without improvement (none: no early stopping)")
    early_stopping_metric: Literal["loss", "codebleu", "bleu", "combined", "auto"] = Field(
        "loss", description="what early stopping selects on: validation loss, or teacher-forced CodeBLEU (code "
        "rows), sentence BLEU (summary rows), their combined per-row mean; auto: the package's choice for the run "
        "(CodeBLEU for generation or translation, BLEU for summarization, combined for MT)")
    early_stopping_threshold: float = Field(0.0, ge=0, description="an evaluation improves only by more than this "
                                            "(metric units: BLEU and CodeBLEU on 0-100)")
    eval_steps: int | None = Field(None, gt=0, description="validate every N steps (default: save_steps)")
    eval_fraction: float | None = Field(None, gt=0, lt=1, description="validate (and save) every this fraction of "
                                        "the run's optimiser steps, instead of eval_steps")
    eval_rows: int | None = Field(None, gt=0, description="validation rows in all, drawn (seed 42) from every "
                                  "task's validation rows (default: all; schedule paper*: the package's)")
    save_steps: int = Field(100, gt=0, description="checkpoint every N steps")
    save_total_limit: int = Field(2, gt=0)
    logging_steps: int = Field(1, gt=0)
    valid_limit: int | None = Field(None, gt=0, description="validation examples per task")
    decontaminate: bool = Field(True, description="drop training examples whose input is an evaluation input")
    speed: Literal["fast", "reference"] = Field(
        "fast", description="fast: the optimised path (engine.models.fast: larger micro-batches where memory allows, "
        "padding-free rows, a chunked loss; the same examples per step, loss and attention); reference: TRL's "
        "SFTTrainer exactly as configured, the paper's recipe")

    @property
    def effective_batch(self) -> int:
        """Examples per optimiser step: batch size times gradient accumulation."""
        return self.batch_size * self.grad_accum


class EvalSpec(StrictModel):
    """Generation and scoring settings."""

    n_samples: int = Field(1, gt=0, le=200, description="samples per prompt (pass@k needs n >= k)")
    temperature: float = Field(0.0, ge=0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int | None = Field(None, gt=0, description="default: 512 for code, 128 for summaries")
    batch_size: int = Field(8, gt=0)
    auto_batch: bool = Field(True, description="larger batches than batch_size where memory allows (on a CPU up "
                             "to 64 rows; outputs unchanged, speed only); false: batches of batch_size, each one a "
                             "resume point")
    limit: int | None = Field(None, gt=0, description="evaluate at most this many samples per task")
    timeout_s: float = Field(10.0, gt=0, le=600, description="time limit per executed test program")
    pass_k: list[int] = Field(default_factory=lambda: [1], min_length=1)
    metrics: list[str] | None = Field(None, description="default: each task's own metrics")
    analysers: list[str] | None = Field(None, description="default: each language's analysers")
    keep_docstrings: bool = Field(False, description="summarization: keep docstrings in inputs")
    meteor_tokenize: Literal["word_tokenize", "split"] = Field(
        "word_tokenize", description="METEOR's tokens: nltk word_tokenize, or whitespace (split) as the paper")
    translation_template: Literal["model", "human_assistant"] = Field(
        "model", description="translation inference: the model's chat template, or the reference package's plain "
        "'Human: … Assistant:' template and output cleaning (its quirk: not the template its models trained with)")
    summary_prompt_tokens: int | None = Field(None, gt=0, description="summarization: keep the first N tokens of "
                                              "each inference prompt (the package: 512)")
    dequantize: bool = Field(False, description="qlora: generate from the 4-bit base dequantized once "
                             "(several times faster on CPU; logits differ slightly from the 4-bit model)")

    @field_validator("pass_k")
    @classmethod
    def _positive_k(cls, value: list[int]) -> list[int]:
        if any(k <= 0 for k in value):
            raise ValueError("every k must be positive")
        return sorted(set(value))


class ResourceSpec(StrictModel):
    """Where the run executes."""

    device: Literal["auto", "cpu", "cuda"] = "auto"
    gpus: int = Field(1, ge=1, le=64, description=">1 trains through accelerate on that many devices "
                      "(with device 'cpu': that many CPU processes over gloo, for testing)")
    strategy: Literal["ddp", "fsdp"] = "ddp"


class CustomTaskSpec(StrictModel):
    """A user dataset declared as a new task; its family gives the prompt, post-processing, metrics and
    execution (engine.tasks.families). Satisfies engine.tasks.custom.CustomTaskDeclaration.

    The dataset is JSON Lines, a JSON array, CSV/TSV with a header row, Parquet or a folder written by
    Hugging Face `datasets` (save_to_disk), by extension or as declared in `format`. Rows with an empty
    or non-text input or target are rejected and reported (`bad_rows`, `max_bad_fraction`); repeated
    ids are refused or numbered (`duplicate_ids`). See README, Configuration → Datasets."""

    name: str = Field(min_length=1)
    family: Literal["generation", "translation", "summarization"] = Field(
        validation_alias=AliasChoices("family", "kind"),
        description="the task family (`kind` is accepted as its former name)")
    language: Literal["python", "java", "csharp", "text"] = Field(description="language of the output")
    source_language: Literal["python", "java", "csharp", "text"] | None = None
    path: str = Field(min_length=1, description="the dataset: a file, or a save_to_disk folder")
    eval_path: str | None = Field(None, description="separate evaluation dataset (default: a held-out split)")
    format: Literal["jsonl", "json", "csv", "tsv", "parquet", "hf"] | None = Field(
        None, description="default: from the extension (.jsonl, .json, .csv, .tsv, .parquet; a folder: hf)")
    eval_format: Literal["jsonl", "json", "csv", "tsv", "parquet", "hf"] | None = Field(
        None, description="format of eval_path (default: from its extension, else `format`)")
    input_field: str = "input"
    target_field: str = "target"
    id_field: str | None = None
    test_field: str | None = Field(None, description="generation (Python): field with test code run after the "
                                   "prediction, e.g. asserts; makes the task executable (pass@k)")
    entry_point_field: str | None = Field(None, description="with test_field: field naming the function under test; "
                                          "the tests then define check(candidate), called with it (HumanEval form)")
    duplicate_ids: Literal["reject", "number"] = Field(
        "reject", description="repeated ids: reject (list them) or number them id, id#2, id#3 …")
    bad_rows: Literal["skip", "reject"] = Field(
        "skip", description="rows with an empty or non-text input/target: skip and report them, or refuse the file")
    max_bad_fraction: float = Field(0.1, ge=0, le=1, description="bad_rows skip: a file with a larger share "
                                    "of rejected rows is refused (a wrong field mapping, most likely)")
    valid_fraction: float = Field(0.1, ge=0, lt=1)
    eval_fraction: float = Field(0.1, ge=0, lt=1)

    @field_validator("eval_fraction")
    @classmethod
    def _needs_an_evaluation_set(cls, value: float, info: ValidationInfo) -> float:
        if value == 0 and not info.data.get("eval_path"):
            raise ValueError("eval_fraction 0 without an eval_path leaves the task no evaluation set (set "
                             "eval_fraction above 0, e.g. 0.1, or give eval_path)")
        return value

    @field_validator("test_field")
    @classmethod
    def _tests_need_python_generation(cls, value: str | None, info: ValidationInfo) -> str | None:
        family, language = info.data.get("family"), info.data.get("language")
        if value and (family != "generation" or language not in ("python", "text")):
            raise ValueError(f"a {family} task in {language} cannot run tests: test_field needs family 'generation' "
                             "with language 'python' (tests are Python code run after the prediction)")
        return value

    @field_validator("entry_point_field")
    @classmethod
    def _entry_point_needs_tests(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and not info.data.get("test_field"):
            raise ValueError("entry_point_field needs test_field (the tests that call the entry point)")
        return value


def task_shorthand(value: Any) -> Any:
    """`gen-python` is short for {name: gen-python}."""
    if isinstance(value, list):
        return [{"name": v} if isinstance(v, str) else v for v in value]
    return value


def model_shorthand(value: Any) -> Any:
    """`Qwen/Qwen2.5-Coder-0.5B-Instruct` is short for {id: ...}."""
    if isinstance(value, str):
        return {"id": value}
    if isinstance(value, list):
        return [{"id": v} if isinstance(v, str) else v for v in value]
    return value


class RunSpec(StrictModel):
    """Everything one run needs. ST vs MT is derived from `tasks`."""

    kind: Literal["run"] = "run"
    name: str | None = Field(None, description="a label; not part of the spec's identity")
    model: ModelSpec
    method: Method = "lora"
    lora: LoraSpec = Field(default_factory=LoraSpec)
    quant: QuantSpec = Field(default_factory=QuantSpec)
    tasks: list[TaskEntry] = Field(min_length=1)
    mixture: MixtureSpec = Field(default_factory=MixtureSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    resources: ResourceSpec = Field(default_factory=ResourceSpec)
    custom_tasks: list[CustomTaskSpec] = Field(default_factory=list)
    data_dir: str | None = Field(None, description="default: the CODETUNE_DATA_DIR setting")

    _tasks = field_validator("tasks", mode="before")(classmethod(lambda cls, v: task_shorthand(v)))
    _model = field_validator("model", mode="before")(classmethod(lambda cls, v: model_shorthand(v)))

    # --- derived ---------------------------------------------------------------------------
    @property
    def task_names(self) -> list[str]:
        """Names of the spec's tasks, in order."""
        return [t.name for t in self.tasks]

    @property
    def families(self) -> list[str]:
        """Task families covered (generation / translation / summarization; a custom task's declared family)."""
        from engine.tasks.registry import family_of

        return sorted({family_of(t.name, self.custom_tasks) for t in self.tasks})

    @property
    def is_multitask(self) -> bool:
        """Multi-task = more than one task family (ST on gen-python + gen-java is still ST)."""
        return families_are_multitask(self.families)

    @property
    def trains(self) -> bool:
        """Whether the run fine-tunes (any method but `none`)."""
        return self.method != "none"

    @property
    def label(self) -> str:
        """ST-QLoRA, MT-LoRA, MT-FFT, ... or zero-shot."""
        return config_label(self.method, self.is_multitask)

    def identity(self) -> dict[str, Any]:
        """The fields that define what the run computes (name and data location excluded)."""
        data = self.model_dump(mode="json", exclude={"name", "data_dir"})
        if data["train"]["speed"] == "fast":
            # the default computes what a spec written before the option computed (same steps, loss and
            # attention; speed and memory only), so it keeps that spec's hash and run id
            del data["train"]["speed"]
        del data["eval"]["auto_batch"]  # the batch a prompt decodes in does not change its output
        return data

    def spec_hash(self) -> str:
        """Hash of the spec's identity fields (same computation → same hash)."""
        return canonical_hash(self.identity())

    def run_id(self) -> str:
        """Readable and unique: <model>-<label>-<tasks>-<hash8>. Same spec → same id."""
        tasks = self.tasks[0].name if len(self.tasks) == 1 else f"{len(self.tasks)}tasks"
        stem = slug(f"{self.model.short_name}-{self.label}-{tasks}")
        return f"{stem}-{self.spec_hash()[:8]}"

    def to_json(self) -> str:
        """The whole spec as indented, key-sorted JSON."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True)



def slug(text: str) -> str:
    """Lower-case, [a-z0-9-] only: safe as a folder name."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9.]+", "-", text.lower())).strip("-.")


def canonical_hash(data: Any) -> str:
    """sha256 of the canonical JSON (sorted keys, no whitespace): stable across processes."""
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge mappings; lists and scalars in `override` replace those in `base`."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
