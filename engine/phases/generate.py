"""The generate phase of a run: evaluation samples → generations.parquet, resumable by batch.

Each finished batch is written as a parquet part under generations.parts/ (atomic rename); a
restarted run reads the parts and generates only what is missing; at the end the parts are
merged into generations.parquet with the schema of engine.runs.rundir.GENERATIONS_SCHEMA.
Batches are as large as free memory allows (engine.models.decode.auto_batch_size; on a CPU up to 64 rows),
unless `eval.auto_batch` is false.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from engine.runs.rundir import GENERATIONS_SCHEMA, write_table_atomic

if TYPE_CHECKING:  # pragma: no cover
    from engine.phases.context import PhaseContext

PARTS = "generations.parts"


def _read_parts(ctx: PhaseContext) -> tuple[list[dict], set[tuple[str, str]]]:
    import pyarrow.parquet as pq

    parts_dir = ctx.run.file(PARTS)
    rows: list[dict] = []
    if parts_dir.is_dir():
        for part in sorted(parts_dir.glob("part-*.parquet")):
            rows.extend(pq.read_table(part).to_pylist())
    return rows, {(r["task"], r["sample_id"]) for r in rows}


def run(ctx: PhaseContext) -> None:
    """Generate every missing (task, sample) and write generations.parquet."""
    import pyarrow as pa

    from engine.data import prepare as data
    from engine.models import decode
    from engine.models import load as models
    from engine.models.generate import DecodeSettings, GenRequest, generate
    from engine.models.prompts import inference_prompt, prediction

    spec = ctx.spec
    examples = ctx.eval_examples()
    rows, done = _read_parts(ctx)
    todo = [ex for ex in examples if (ex.task, ex.id) not in done]
    parts_dir = ctx.run.file(PARTS)
    parts_dir.mkdir(exist_ok=True)
    if todo:
        tasks = data.task_objects(spec)
        trained = ctx.run.model_dir if spec.trains else None
        model, tokenizer = models.load_for_generation(spec, ctx.settings, ctx.device, trained)
        by_key = {(ex.task, ex.id): ex for ex in examples}
        requests = []
        for ex in examples:  # all of them: the batch plan (and so each batch's seed) must not depend on a resume
            task = tasks[ex.task]
            requests.append(GenRequest(
                key=(ex.task, ex.id),
                prompt=inference_prompt(tokenizer, task, ex, spec.eval),
                max_new_tokens=spec.eval.max_new_tokens or task.default_max_new_tokens,
                stop_strings=tuple(task.stop_strings()),
            ))
        batch_size = spec.eval.batch_size
        if spec.eval.auto_batch and decode.supports(model):
            # as many rows as memory holds: the token loop's outputs do not depend on the batch
            # (greedy: tested equal to one at a time; sampled: seeded per request and sample)
            longest = max(len(tokenizer(req.prompt, add_special_tokens=False)["input_ids"]) for req in requests)
            fitting = decode.auto_batch_size(model, ctx.device, longest, max(req.max_new_tokens for req in requests),
                                             batch_size * spec.eval.n_samples)
            batch_size = max(batch_size, fitting // spec.eval.n_samples)
        settings = DecodeSettings(
            n_samples=spec.eval.n_samples,
            temperature=spec.eval.temperature,
            top_p=spec.eval.top_p,
            batch_size=batch_size,
            seed=spec.train.seed,
            stop_token_ids=tuple(models.stop_token_ids(tokenizer, model)),
        )
        prompts = {req.key: req.prompt for req in requests}
        part_no = len(list(parts_dir.glob("part-*.parquet")))
        finished = len(done)
        total = len(examples)
        ctx.progress("generate", finished, total, force=True)
        for outputs in generate(model, tokenizer, requests, settings, done=done):
            batch_rows = []
            outputs = [out for out in outputs if out.key not in done]  # a batch only partly written before
            if not outputs:
                continue
            for out in outputs:
                ex = by_key[out.key]
                task = tasks[ex.task]
                batch_rows.append({
                    "run_id": ctx.run.run_id,
                    "task": ex.task,
                    "sample_id": ex.id,
                    "sample_index": out.sample_index,
                    "prompt": prompts[out.key],
                    "completion": out.completion,
                    "prediction": prediction(task, out.completion, ex, spec.eval),
                    "reference": ex.target,
                    "prompt_tokens": out.prompt_tokens,
                    "completion_tokens": out.completion_tokens,
                    "latency_s": out.latency_s,
                    "batch_size": out.batch_size,
                    "finish_reason": out.finish_reason,
                })
            write_table_atomic(parts_dir / f"part-{part_no:05d}.parquet",
                               pa.Table.from_pylist(batch_rows, schema=GENERATIONS_SCHEMA))
            part_no += 1
            rows.extend(batch_rows)
            finished += len(outputs) // max(spec.eval.n_samples, 1)
            tokens = sum(r["completion_tokens"] for r in batch_rows)
            ctx.run.append_event("generate", done=finished, total=total, batch_size=outputs[0].batch_size,
                                 latency_s=outputs[0].latency_s, new_tokens=tokens,
                                 tokens_per_s=tokens / max(outputs[0].latency_s, 1e-9))
            ctx.progress("generate", finished, total)
            ctx.check_cancel()
    order = {(ex.task, ex.id): i for i, ex in enumerate(examples)}
    rows.sort(key=lambda r: (order.get((r["task"], r["sample_id"]), 1 << 30), r["sample_index"]))
    write_table_atomic(ctx.run.artifact("generations"), pa.Table.from_pylist(rows, schema=GENERATIONS_SCHEMA))
    shutil.rmtree(parts_dir, ignore_errors=True)
