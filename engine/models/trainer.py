"""Training with TRL's SFTTrainer: the spec's TrainSpec → SFTConfig, events into the run directory.

Loss on the completion only (or the whole text, as the paper did), optional packing, gradient
checkpointing, checkpoints every N steps with resume from the last one, early stopping on the
validation loss, the paper's optimiser choices (8-bit AdamW via bitsandbytes). A callback appends
step / loss / learning rate / grad norm / tokens per second / peak memory to events.jsonl and
stops cleanly (after a checkpoint) when cancellation is requested.
"""

from __future__ import annotations

import math
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import Cancelled
from engine.runs.rundir import RunDir
from engine.spec import RunSpec

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
    """The newest complete checkpoint folder, if any."""
    if not run.checkpoints_dir.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(run.checkpoints_dir))


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
            return control

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                run.append_event("checkpoint", step=state.global_step)

    return EventsCallback()


def sft_config(spec: RunSpec, run: RunDir, device: str, has_valid: bool) -> Any:
    """The TRL SFTConfig for this spec."""
    from trl import SFTConfig

    t = spec.train
    early = t.early_stopping_patience is not None and has_valid
    eval_steps = t.eval_steps or t.save_steps
    warmup: float = t.warmup_ratio if t.warmup_ratio > 0 else t.warmup_steps
    return SFTConfig(
        output_dir=str(run.checkpoints_dir),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.scheduler,
        warmup_steps=warmup,
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
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        eval_strategy="steps" if has_valid and (early or t.eval_steps) else "no",
        eval_steps=eval_steps,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
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


def train(spec: RunSpec, run: RunDir, model: Any, tokenizer: Any, train_records: list[dict[str, Any]],
          valid_records: list[dict[str, Any]], device: str, is_main: bool = True) -> TrainResult:
    """Train `model` in place (resuming from the run's last checkpoint) and return a summary."""
    from datasets import Dataset
    from transformers import EarlyStoppingCallback
    from trl import SFTTrainer

    if not train_records:
        raise ValueError("the training mixture is empty. Fix: check the tasks' training data, caps and mixture.total")
    config = sft_config(spec, run, device, has_valid=bool(valid_records))
    callback = make_callback(run, device)
    callbacks = [callback]
    if config.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=spec.train.early_stopping_patience))
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(train_records),
        eval_dataset=Dataset.from_list(valid_records) if config.eval_strategy != "no" else None,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    kept = len(trainer.train_dataset)
    if kept < len(train_records) and is_main:
        # TRL truncates to max_length and drops examples whose completion was cut away entirely
        run.append_event("dropped_examples", kept=kept, given=len(train_records), max_length=spec.train.max_length)
    if kept == 0:
        raise ValueError(f"all {len(train_records)} training examples lost their completion to truncation at "
                         f"train.max_length={spec.train.max_length}. Fix: raise train.max_length")
    resume = last_checkpoint(run)
    if resume and is_main:
        run.append_event("resume", checkpoint=Path(resume).name)
    started = time.time()
    output = trainer.train(resume_from_checkpoint=resume)
    if callback.cancelled:
        raise Cancelled(f"cancelled at step {trainer.state.global_step}; checkpoint kept for resume")
    best = trainer.state.best_metric
    steps = trainer.state.global_step
    stopped_early = bool(config.load_best_model_at_end and steps < trainer.state.max_steps)
    loss = logged_mean_loss(trainer.state.log_history)
    if loss is None and output.training_loss is not None and not math.isnan(output.training_loss):
        loss = output.training_loss
    return TrainResult(steps=steps, train_loss=loss, best_eval_loss=best,
                       tokens_seen=int(trainer.state.num_input_tokens_seen or 0),
                       seconds=time.time() - started, stopped_early=stopped_early)
