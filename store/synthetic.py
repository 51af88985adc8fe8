"""Synthetic run directories in the engine's format, for the store's tests and benchmark.

`write_run` writes one complete run directory (spec.json from a real RunSpec, status.json,
events.jsonl, metrics.json and the five parquet artifacts with engine.runs.rundir' schemas) with
deterministic, plausible content: the same (task, sample_id) has the same prompt and reference in
every run, completions differ per run, pass/fail depends on the run's `pass_rate`. Nothing here
touches a model or the database; it only needs pyarrow and numpy.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from engine.runs.rundir import (
    FINDINGS_SCHEMA,
    GENERATIONS_SCHEMA,
    OUTCOMES_SCHEMA,
    QUALITY_SCHEMA,
    SCORES_SCHEMA,
    RunDir,
    write_json_atomic,
    write_table_atomic,
)
from engine.spec import RunSpec, parse_run_spec
from engine.vocabulary import DONE, FAILED, Progress, model_size

_WORDS = np.array([
    "def", "return", "for", "while", "if", "else", "elif", "import", "from", "class", "self", "value",
    "result", "items", "index", "total", "count", "list", "dict", "str", "int", "float", "None", "True",
    "False", "range", "len", "append", "sum", "max", "min", "sorted", "key", "lambda", "yield",
    "public", "static", "void", "int", "String", "return", "new", "ArrayList", "HashMap", "for", "if",
    "else", "try", "catch", "throw"
])
_TOOLS = (
    ("pylint", ("C0116", "convention", "info"), ("W0612", "warning", "warning"), ("E1101", "error", "error")),
    ("lizard", ("CCN", "complexity", "warning"),),
    ("radon", ("MI", "maintainability", "info"),),
)
_MEASURES = (("lizard", "ccn"), ("lizard", "nloc"), ("pylint", "pylint_score"))


@dataclass(frozen=True)
class TaskTexts:
    """Prompts and references of one task, shared by every run (as with a real evaluation set)."""

    task: str
    sample_ids: list[str]
    prompts: list[str]
    references: list[str]


def _text(rng: np.random.Generator, n_words: int) -> str:
    return " ".join(_WORDS[rng.integers(0, len(_WORDS), n_words)])


def make_texts(task: str, n: int, prompt_words: int = 60, seed: int = 0) -> TaskTexts:
    """n samples of `task` with prompts of about `prompt_words` words (~6 characters each)."""
    rng = np.random.default_rng(zlib.crc32(f"{task}:{seed}".encode()))
    ids = [f"{task}/{i:05d}" for i in range(n)]
    prompts = [f"# {sid}\n" + _text(rng, prompt_words) for sid in ids]
    refs = [_text(rng, prompt_words // 2) for _ in ids]
    return TaskTexts(task, ids, prompts, refs)


def spec_for(model: str, method: str, tasks: Sequence[str], seed: int = 42, **extra: Any) -> RunSpec:
    """A validated RunSpec (the run id derives from it, as the engine's submit does)."""
    data: dict[str, Any] = {"model": {"id": model}, "method": method, "tasks": [{"name": t} for t in tasks],
                            "train": {"seed": seed}}
    data.update(extra)
    return parse_run_spec(data)


def training_cost(spec: RunSpec, seed: int, n_train_events: int) -> dict[str, Any] | None:
    """Plausible cost records of a training run on an H100 (None for zero-shot): the parameters of the
    model's size, a LoRA adapter's share of them, throughput falling with size (QLoRA's 4-bit matmuls
    slower, FFT's optimiser heavier) and peak memory growing with it, with some run-to-run spread."""
    factor = {"lora": 1.0, "qlora": 0.6, "fft": 0.7}.get(spec.method)
    if factor is None:
        return None
    rng = np.random.default_rng(zlib.crc32(f"cost:{seed}".encode()))  # its own stream: the samples stay as before
    size_b = model_size(spec.model.id)[1] or 0.5
    total = int(size_b * 1e9)
    trainable = total if spec.method == "fft" else int(total * 0.018 * spec.lora.r / 16)
    rate = 8e4 / size_b * factor * float(rng.uniform(0.85, 1.15))
    bytes_per_param = {"lora": 2.0, "qlora": 0.55, "fft": 16.0}[spec.method]
    peak = total * bytes_per_param / 2**20 + 2000.0 * float(rng.uniform(0.9, 1.1))
    tokens = 1_048_576 * max(n_train_events, 1)
    rates = [(rate * float(rng.uniform(0.95, 1.05)), peak * min(1.0, 0.9 + 0.02 * i)) for i in range(n_train_events)]
    device = {"device": "cuda", "device_name": "NVIDIA H100 80GB HBM3", "world_size": 1}
    return {"model_ready": {"trainable": trainable, "total": total, **device}, "rates": rates,
            "trained": {"steps": n_train_events, "tokens_seen": tokens, "seconds": tokens / rate,
                        "trainable": trainable, "total": total, **device, "peak_mem_mb": peak,
                        "weights_bytes": int((total if spec.method == "fft" else trainable) * 2)}}


def write_run(
    runs_dir: Path,
    spec: RunSpec,
    texts: Sequence[TaskTexts],
    *,
    pass_rate: float = 0.5,
    findings_per_sample: float = 1.5,
    seed: int = 0,
    state: str = DONE,
    n_train_events: int = 20,
    statuses: Mapping[tuple[str, str], str] | None = None,
    run_id: str | None = None,
) -> Path:
    """Write one complete run directory and return its path.

    `statuses` forces the outcome status of given (task, sample_id) pairs (the tests' known
    answers); the others pass with probability `pass_rate`, else fail or (1 in 5) time out.
    """
    rng = np.random.default_rng(seed)
    run_id = run_id or spec.run_id()
    path = runs_dir / run_id
    path.mkdir(parents=True, exist_ok=True)
    now = time.time()
    write_json_atomic(path / "spec.json", spec.model_dump(mode="json"))
    RunDir(path).update_status(
        state=state, phase="analyse" if state == DONE else "train",
        progress=Progress("analyse", 1.0, 1.0), phases_done=["prepare", "train"],
        error={"phase": "train", "type": "RuntimeError", "message": "boom"} if state == FAILED else None,
        submitted_at=now - 100, started_at=now - 90, finished_at=now - 1, attempts=1,
    )
    cost = training_cost(spec, seed, n_train_events)
    with open(path / "events.jsonl", "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"t": now - 90, "type": "phase", "phase": "train", "status": "start"}) + "\n")
        if cost:
            fh.write(json.dumps({"t": now - 90, "type": "model_ready", **cost["model_ready"]}) + "\n")
        for step in range(1, n_train_events + 1):
            rate, peak = cost["rates"][step - 1] if cost else (1000.0, 512.0)
            fh.write(json.dumps({"t": now - 90 + step, "type": "train", "step": step, "loss": 2.0 / step,
                                 "lr": 1e-4, "grad_norm": 1.0, "tokens_per_s": rate, "peak_mem_mb": peak,
                                 "epoch": step / n_train_events}) + "\n")
        fh.write(json.dumps({"t": now - 60, "type": "eval", "step": n_train_events, "loss": 0.5}) + "\n")
        if cost:
            fh.write(json.dumps({"t": now - 55, "type": "trained", **cost["trained"]}) + "\n")
        fh.write(json.dumps({"t": now - 50, "type": "phase", "phase": "train", "status": "end"}) + "\n")

    keys: dict[str, list[Any]] = {"task": [], "sample_id": [], "prompt": [], "reference": []}
    for t in texts:
        keys["task"].extend([t.task] * len(t.sample_ids))
        keys["sample_id"].extend(t.sample_ids)
        keys["prompt"].extend(t.prompts)
        keys["reference"].extend(t.references)
    n = len(keys["sample_id"])
    run_col = pa.array([run_id] * n, pa.string())
    zeros = pa.array(np.zeros(n, dtype=np.int32))
    completions = [ref[: len(ref) // 2] + " " + _text(rng, 12) for ref in keys["reference"]]
    ok = rng.random(n) < pass_rate
    status = np.where(ok, "passed", np.where(rng.random(n) < 0.8, "failed", "timeout")).astype(object)
    if statuses:
        for i, (task, sid) in enumerate(zip(keys["task"], keys["sample_id"], strict=True)):
            forced = statuses.get((task, sid))
            if forced is not None:
                status[i] = forced
                ok[i] = forced == "passed"
    base = [run_col, pa.array(keys["task"]), pa.array(keys["sample_id"]), zeros]
    gens = pa.Table.from_arrays(
        [*base, pa.array(keys["prompt"]), pa.array([f"```\n{c}\n```" for c in completions]),
         pa.array(completions), pa.array(keys["reference"]),
         pa.array(rng.integers(50, 200, n).astype(np.int32)),
         pa.array(rng.integers(20, 300, n).astype(np.int32)),
         pa.array(rng.random(n) * 4), pa.array(np.full(n, 8, dtype=np.int32)),
         pa.array(np.where(rng.random(n) < 0.9, "eos", "length"))],
        schema=GENERATIONS_SCHEMA)
    write_table_atomic(path / "generations.parquet", gens)

    outcomes = pa.Table.from_arrays(
        [*base, pa.array(status.tolist(), pa.string()), pa.array(np.where(ok, 0, 1).astype(np.int32)),
         pa.array(rng.random(n)),
         pa.array([""] * n), pa.array(np.where(ok, "", "AssertionError: expected 3, got 4")),
         pa.array(["bwrap+netns"] * n), pa.array(np.where(ok, None, "assertion failed"))],
        schema=OUTCOMES_SCHEMA)
    write_table_atomic(path / "outcomes.parquet", outcomes)

    idx = np.arange(n)
    scores = pa.Table.from_arrays(
        [pa.array([run_id] * (2 * n), pa.string()), pa.array(keys["task"] * 2),
         pa.array(keys["sample_id"] * 2),
         pa.array(np.zeros(2 * n, dtype=np.int32)), pa.array(["codebleu"] * n + ["bleu"] * n),
         pa.array(np.concatenate([rng.random(n), rng.random(n)]))],
        schema=SCORES_SCHEMA)
    write_table_atomic(path / "scores.parquet", scores)

    counts = rng.poisson(findings_per_sample, n)
    rows = np.repeat(idx, counts)
    picks = [(tool, *rule) for tool, *rules in _TOOLS for rule in rules]
    choice = rng.integers(0, len(picks), len(rows))
    task_arr = np.array(keys["task"], dtype=object)
    sid_arr = np.array(keys["sample_id"], dtype=object)
    findings = pa.Table.from_arrays(
        [pa.array([run_id] * len(rows), pa.string()), pa.array(task_arr[rows].tolist(), pa.string()),
         pa.array(sid_arr[rows].tolist(), pa.string()), pa.array(np.zeros(len(rows), dtype=np.int32)),
         pa.array([picks[c][0] for c in choice]), pa.array([picks[c][1] for c in choice]),
         pa.array([picks[c][2] for c in choice]), pa.array([picks[c][3] for c in choice]),
         pa.array(rng.integers(1, 30, len(rows)).astype(np.int32)),
         pa.array(["synthetic finding"] * len(rows))],
        schema=FINDINGS_SCHEMA)
    write_table_atomic(path / "findings.parquet", findings)

    m = len(_MEASURES)
    qrows = np.repeat(idx, m)
    values = np.concatenate([rng.integers(1, 15, n)[:, None], rng.integers(3, 60, n)[:, None],
                             (rng.random(n) * 10)[:, None]], axis=1).reshape(-1).astype(float)
    quality = pa.Table.from_arrays(
        [pa.array([run_id] * len(qrows), pa.string()), pa.array(task_arr[qrows].tolist(), pa.string()),
         pa.array(sid_arr[qrows].tolist(), pa.string()), pa.array(np.zeros(len(qrows), dtype=np.int32)),
         pa.array([_MEASURES[i % m][0] for i in range(len(qrows))]), pa.array(["ok"] * len(qrows)),
         pa.array([""] * len(qrows)), pa.array([_MEASURES[i % m][1] for i in range(len(qrows))]),
         pa.array(values)],
        schema=QUALITY_SCHEMA)
    write_table_atomic(path / "quality.parquet", quality)

    metrics: dict[str, dict[str, float]] = {}
    for t in texts:
        mask = task_arr == t.task
        metrics[t.task] = {"n": float(mask.sum()), "pass@1": float(ok[mask].mean()),
                           "codebleu": float(np.asarray(scores.column("value"))[:n][mask].mean())}
    write_json_atomic(path / "metrics.json", {"run_id": run_id, "computed_at": now, "tasks": metrics})
    return path
