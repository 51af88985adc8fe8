"""The train phase: fine-tune with the spec's method (skipped for zero-shot; several devices through
engine.executors.distributed) and save the adapter or model with train_summary.json (with what the
cost view needs: device and its name, processes, peak memory, size of the saved weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.phases.context import PhaseContext
from engine.runs.rundir import read_json, write_json_atomic


def run(ctx: PhaseContext) -> None:
    """Fine-tune with the spec's method (skipped for zero-shot) and save the adapter / model."""
    if not ctx.spec.trains:
        return
    from engine.data import prepare as data
    from engine.models import load as models
    from engine.models import trainer as train

    spec = ctx.spec
    if spec.resources.gpus > 1:
        from engine.executors import distributed

        distributed.launch(ctx.run, spec, ctx.device)
        summary = {**(read_json(ctx.run.file("train_summary.json")) or {}),
                   **device_facts(ctx.device, spec.resources.gpus), "weights_bytes": weights_bytes(ctx.run.model_dir)}
        write_json_atomic(ctx.run.file("train_summary.json"), summary)
        ctx.run.append_event("trained", **summary)
        return
    prepared = data.prepare(spec, ctx.data_dir)
    tasks = data.task_objects(spec)
    source = models.resolve_source(spec, ctx.settings)
    tokenizer = models.load_tokenizer(spec, ctx.settings, source)
    model = models.apply_method(models.load_base_model(spec, ctx.settings, ctx.device, source), spec)
    params = models.count_parameters(model)
    device = device_facts(ctx.device, world_size=1)
    ctx.run.append_event("model_ready", **params, **device)
    result = train.train(spec, ctx.run, model, tokenizer, data.chat_records(prepared.train, tasks),
                         data.chat_records(prepared.valid, tasks), ctx.device)
    models.save_trained(model, tokenizer, ctx.run.model_dir, spec, source.location)
    summary = {**result.__dict__, **params, **device, "peak_mem_mb": train.peak_memory_mb(ctx.device),
               "weights_bytes": weights_bytes(ctx.run.model_dir)}
    write_json_atomic(ctx.run.file("train_summary.json"), summary)
    ctx.run.append_event("trained", **summary)


def device_facts(device: str, world_size: int) -> dict[str, Any]:
    """The device kind, its name (a GPU's, which sets the peak FLOP/s of the MFU figure) and the
    number of training processes."""
    name = None
    if device == "cuda":
        import torch

        name = torch.cuda.get_device_name()
    return {"device": device, "device_name": name, "world_size": world_size}


def weights_bytes(model_dir: Path) -> int | None:
    """Size on disk of the saved weights: the adapter (LoRA/QLoRA) or the whole model (FFT)."""
    if not model_dir.is_dir():
        return None
    return sum(f.stat().st_size for f in model_dir.iterdir() if f.suffix in (".safetensors", ".bin", ".pt"))
