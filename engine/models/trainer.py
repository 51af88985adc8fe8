"""Training with TRL's SFTTrainer: the spec's TrainSpec → SFTConfig, events into the run directory.

Loss on the completion only (or the whole text, as the paper did), optional packing, gradient
checkpointing, checkpoints every N steps with resume from the last one, the paper's optimiser
choices (8-bit AdamW via bitsandbytes). Warm-up, the evaluation cadence and early stopping come from
the run's schedule (engine.spec.schedule): early stopping selects on the validation loss or on a
teacher-forced generation metric (engine.models.teacher_forced: argmax inside the evaluation loop,
unpacked validation rows), with patience and threshold, and the best checkpoint is kept. A callback appends
step / loss / learning rate / grad norm / tokens per second / peak memory to events.jsonl and
stops cleanly (after a checkpoint) when cancellation is requested.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import Cancelled
from engine.runs.rundir import RunDir
from engine.spec import RunSpec
from engine.spec.schedule import Schedule, resolve

OPTIMIZERS = {
    "adamw": "adamw_torch",
    "adamw_8bit": "adamw_bnb_8bit",
    "paged_adamw_8bit": "paged_adamw_8bit",
    "sgd": "sgd",
    "adafactor": "adafactor",
}


@dataclass(frozen=True)
class TrainResult:
    """Summary of a training run: steps, losses, tokens seen, time and whether it stopped early."""

    steps: int
    train_loss: float | None
    best_eval_loss: float | None
    tokens_seen: int
    seconds: float
    stopped_early: bool
    metric: str = "loss"  # what the best checkpoint was selected on
    best_metric: float | None = None
    best_step: int | None = None


def peak_memory_mb(device: str) -> float:
    """Peak memory so far: CUDA allocator peak on a GPU, the process's max RSS on CPU."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def precision_flags(spec: RunSpec, device: str) -> dict[str, bool]:
    """bf16/fp16 mixed precision on a GPU when asked (auto: bf16 where supported); fp32 on CPU."""
    choice = spec.train.precision
    if device != "cuda":
        return {"bf16": False, "fp16": False}
    if choice == "auto":
        import torch

        choice = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return {"bf16": choice == "bf16", "fp16": choice == "fp16"}


def logged_mean_loss(log_history: list[dict[str, Any]]) -> float | None:
    """The mean training loss per optimiser step over the whole run, from the trainer's log history
    (restored from the checkpoint on a resume, so a resumed run reports what an uninterrupted one
    would; the trainer's own `training_loss` covers only the steps since the resume)."""
    total = steps = 0.0
    previous = 0
    for entry in log_history:
        loss, step = entry.get("loss"), entry.get("step")
        if isinstance(loss, (int, float)) and isinstance(step, int) and step > previous and not math.isnan(loss):
            total += loss * (step - previous)
            steps += step - previous
            previous = step
    return total / steps if steps else None


def last_checkpoint(run: RunDir) -> str | None:
    """The newest complete checkpoint folder, if any.

    The trainer writes a checkpoint in place and its trainer_state.json last: a process killed while
    saving (or a full disk) leaves a folder without it, or with a torn one, which transformers'
    get_last_checkpoint would still pick, failing every resume. Such folders are passed over.
    """
    if not run.checkpoints_dir.is_dir():
        return None
    candidates = []
    for folder in run.checkpoints_dir.glob("checkpoint-*"):
        step = folder.name.removeprefix("checkpoint-")
        if step.isdigit() and folder.is_dir() and _complete(folder):
            candidates.append((int(step), folder))
    return str(max(candidates)[1]) if candidates else None


def _complete(checkpoint: Path) -> bool:
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(state, dict) and "global_step" in state


def keep_adapter_dtype_on_resume(model: Any) -> None:
    """The trainer resumes a PEFT model through its `load_adapter`, which by default upcasts bf16/fp16
    adapter weights to fp32: a resumed QLoRA run (TRL trains its adapters in bf16) went on in another
    precision than an uninterrupted one. Load the adapter in the dtype it trains in."""
    load = getattr(model, "load_adapter", None)
    if load is not None and "autocast_adapter_dtype" in inspect.signature(load).parameters:
        model.load_adapter = functools.partial(load, autocast_adapter_dtype=False)


def make_callback(run: RunDir, device: str, total_tokens_hint: int | None = None) -> Any:
    """The TrainerCallback that writes events, progress and honours cancellation."""
    from transformers import TrainerCallback

    class EventsCallback(TrainerCallback):
        """Events and progress into the run directory; cancellation → checkpoint and stop."""

        def __init__(self) -> None:
            self.last_time = time.time()
            self.last_tokens = 0
            self.cancelled = False
            self.last_progress = 0.0

        def on_train_begin(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:  # with several processes, rank 0 alone writes
                return
            self.last_time = time.time()
            self.last_tokens = state.num_input_tokens_seen or 0
            run.append_event("train_begin", max_steps=state.max_steps, resumed_at=state.global_step,
                             epochs=args.num_train_epochs, tokens_hint=total_tokens_hint)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero:
                return
            logs = dict(logs or {})
            now = time.time()
            tokens = state.num_input_tokens_seen or 0
            elapsed = max(now - self.last_time, 1e-9)
            if any(k.startswith("eval_") for k in logs):
                run.append_event("eval", step=state.global_step, epoch=state.epoch,
                                 **{k.removeprefix("eval_"): v for k, v in logs.items() if k.startswith("eval_")})
                return
            if "loss" not in logs:
                if "train_runtime" in logs:
                    run.append_event("train_summary", step=state.global_step, **logs)
                return
            run.append_event(
                "train",
                step=state.global_step,
                max_steps=state.max_steps,
                epoch=state.epoch,
                loss=logs.get("loss"),
                lr=logs.get("learning_rate"),
                grad_norm=logs.get("grad_norm"),
                tokens=tokens,
                tokens_per_s=(tokens - self.last_tokens) / elapsed,
                peak_mem_mb=peak_memory_mb(device),
            )
            self.last_time, self.last_tokens = now, tokens

        def on_step_end(self, args, state, control, **kwargs):
            now = time.time()
            if state.is_world_process_zero and (now - self.last_progress > 1.0 or state.global_step == state.max_steps):
                self.last_progress = now
                run.update_status(progress={"phase": "train", "done": state.global_step, "total": state.max_steps})
                run.heartbeat(phase="train")
            if run.cancel_requested():
                self.cancelled = True
                control.should_save = True
                control.should_training_stop = True
            elif state.global_step >= state.max_steps and not args.load_best_model_at_end:
                # the last step's checkpoint would never be read: the model is saved right after training
                # (a run that dies before that resumes from the checkpoint before, bit for bit). For full
                # fine-tuning it is the weights and both AdamW moments: 16 bytes per parameter
                control.should_save = False
            return control

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                run.append_event("checkpoint", step=state.global_step)

    return EventsCallback()


def sft_config(spec: RunSpec, run: RunDir, device: str, has_valid: bool) -> Any:
    """The TRL SFTConfig for this spec."""
    from trl import SFTConfig

    t = spec.train
    plan = resolve(spec)
    evaluate = has_valid and plan.eval_every is not None
    early = evaluate and plan.early_stopping
    return SFTConfig(
        output_dir=str(run.checkpoints_dir),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.scheduler,
        warmup_steps=plan.warmup,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps is not None else -1,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        optim=OPTIMIZERS[t.optimizer],
        seed=t.seed,
        data_seed=t.seed,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=plan.save_every,
        save_total_limit=t.save_total_limit,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=plan.eval_every if evaluate else None,
        eval_packing=False if evaluate and plan.metric != "loss" else None,
        load_best_model_at_end=early,
        metric_for_best_model=(f"eval_{plan.metric}" if early else None),
        greater_is_better=plan.greater_is_better if early else None,
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        max_length=t.max_length,
        packing=t.packing,
        packing_strategy=t.packing_strategy,
        completion_only_loss=t.completion_only_loss,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        use_cpu=device == "cpu",
        dataloader_num_workers=0,
        disable_tqdm=True,
        **precision_flags(spec, device),
    )


def validation_rows(records: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    """At most `limit` validation records, drawn as the package drew them: all tasks' rows shuffled
    with seed 42, the first `limit` kept."""
    if limit is None or limit >= len(records):
        return list(records)
    import random

    shuffled = list(records)
    random.Random(42).shuffle(shuffled)
    return shuffled[:limit]


def attach_metrics(trainer: Any, tokenizer: Any, plan: Schedule) -> None:
    """Give the trainer the teacher-forced metrics of its (prepared) validation rows."""
    from engine.models.teacher_forced import TeacherForced, completion_positions

    rows = [(list(row["input_ids"]), completion_positions(row)) for row in trainer.eval_dataset]
    metrics = TeacherForced(tokenizer, rows, required=plan.metric)
    trainer.compute_metrics = metrics
    trainer.preprocess_logits_for_metrics = metrics.preprocess_logits


def _cpu_kernels(model: Any, speed: Any) -> contextlib.AbstractContextManager[Any]:
    """Frozen linears on packed weights and LoRA dropout from PCG64 while training, where the plan
    says so (CPU)."""
    stack = contextlib.ExitStack()
    if speed.packed_linears:
        from engine.models import cpu_linear

        stack.enter_context(cpu_linear.frozen_packed_linears(model))
    if speed.fast_dropout:
        from engine.models import cpu_dropout

        stack.enter_context(cpu_dropout.fast_dropout(model))
    return stack


def train(spec: RunSpec, run: RunDir, model: Any, tokenizer: Any, train_records: list[dict[str, Any]],
          valid_records: list[dict[str, Any]], device: str, is_main: bool = True) -> TrainResult:
    """Train `model` in place (resuming from the run's last checkpoint) and return a summary."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback

    from engine.models import fast

    if not train_records:
        raise ValueError("the training mixture is empty. Fix: check the tasks' training data, caps and mixture.total")
    plan = resolve(spec)
    valid_records = validation_rows(valid_records, plan.eval_rows)
    config = sft_config(spec, run, device, has_valid=bool(valid_records))
    # the optimised path's micro-batch split; a resume keeps the split its run started with
    speed = fast.plan(spec, device, model, sum(p.numel() for p in model.parameters() if p.requires_grad),
                      previous=fast.previous_plan(run.read_events()[0]) if last_checkpoint(run) else None)
    fast.configure(config, speed)
    if is_main:
        run.append_event("train_path", **speed.to_dict())
    callback = make_callback(run, device)
    callbacks = [callback]
    if config.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=plan.patience,
                                               early_stopping_threshold=plan.threshold))
    trainer = fast.trainer_class(speed)(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(train_records),
        eval_dataset=Dataset.from_list(valid_records) if config.eval_strategy != "no" else None,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    if config.eval_strategy != "no" and plan.metric != "loss":
        attach_metrics(trainer, tokenizer, plan)
    kept = len(trainer.train_dataset)
    if kept < len(train_records) and is_main:
        # TRL truncates to max_length and drops examples whose completion was cut away entirely
        run.append_event("dropped_examples", kept=kept, given=len(train_records), max_length=spec.train.max_length)
    if kept == 0:
        raise ValueError(f"all {len(train_records)} training examples lost their completion to truncation at "
                         f"train.max_length={spec.train.max_length}. Fix: raise train.max_length")
    resume = last_checkpoint(run)
    if resume:
        keep_adapter_dtype_on_resume(trainer.model)
        if is_main:
            run.append_event("resume", checkpoint=Path(resume).name)
    started = time.time()
    with _cpu_kernels(model, speed):
        output = trainer.train(resume_from_checkpoint=resume)
    if callback.cancelled:
        raise Cancelled(f"cancelled at step {trainer.state.global_step}; checkpoint kept for resume")
    best = trainer.state.best_metric
    steps = trainer.state.global_step
    stopped_early = bool(config.load_best_model_at_end and steps < trainer.state.max_steps)
    loss = logged_mean_loss(trainer.state.log_history)
    if loss is None and output.training_loss is not None and not math.isnan(output.training_loss):
        loss = output.training_loss
    eval_losses = [e["eval_loss"] for e in trainer.state.log_history if isinstance(e.get("eval_loss"), (int, float))]
    best_loss = best if plan.metric == "loss" else (min(eval_losses) if eval_losses else None)
    return TrainResult(steps=steps, train_loss=loss, best_eval_loss=best_loss,
                       tokens_seen=int(trainer.state.num_input_tokens_seen or 0),
                       seconds=time.time() - started, stopped_early=stopped_early, metric=plan.metric,
                       best_metric=best, best_step=getattr(trainer.state, "best_global_step", None))
