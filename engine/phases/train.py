"""The train phase: fine-tune with the spec's method (skipped for zero-shot; several devices through
engine.executors.distributed) and save the adapter or model with train_summary.json."""

from __future__ import annotations

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
        ctx.run.append_event("trained", **(read_json(ctx.run.file("train_summary.json")) or {}))
        return
    prepared = data.prepare(spec, ctx.data_dir)
    tasks = data.task_objects(spec)
    source = models.resolve_source(spec, ctx.settings)
    tokenizer = models.load_tokenizer(spec, ctx.settings, source)
    model = models.apply_method(models.load_base_model(spec, ctx.settings, ctx.device, source), spec)
    params = models.count_parameters(model)
    ctx.run.append_event("model_ready", **params, device=ctx.device)
    result = train.train(spec, ctx.run, model, tokenizer, data.chat_records(prepared.train, tasks),
                         data.chat_records(prepared.valid, tasks), ctx.device)
    models.save_trained(model, tokenizer, ctx.run.model_dir, spec, source.location)
    summary = {**result.__dict__, **params}
    write_json_atomic(ctx.run.file("train_summary.json"), summary)
    ctx.run.append_event("trained", **summary)
