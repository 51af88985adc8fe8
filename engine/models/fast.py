"""The optimised training path (`train.speed: fast`, the default): the same examples per optimiser
step, the same loss and the same attention semantics as the reference path (TRL's SFTTrainer as
configured), computed with less waste.

- Larger micro-batches instead of gradient accumulation where the device's free memory allows
  (CUDA; the effective batch, and so every optimiser step, is unchanged: the sampler's order does
  not depend on the micro-batch, and the loss is normalised by the tokens of the whole step).
  On CPU the spec's micro-batch is kept: larger ones raise the peak RSS for little speed.
- Gradient checkpointing off where the activations fit without it (memory and speed only).
- On a CPU, frozen linears (LoRA's base layers) on oneDNN-packed weights, forward and backward
  (engine.models.cpu_linear): the same products without re-laying out the weight at every call.
- Padding-free rows when examples are not packed into the paper's wrapped sequences
  (engine.models.packing): several examples per row, position ids restarting per example, so
  no example attends to another and padding is not computed.
- On a CPU, LoRA's dropout masks drawn from NumPy's PCG64 instead of PyTorch's one-element-at-a-
  time CPU generator, and kept as booleans (engine.models.cpu_dropout): the same distribution,
  other draws, so the loss curve differs from the reference's by dropout noise only.
- A chunked cross-entropy over the labelled positions only (engine.models.loss): the head and its
  loss without the (tokens × vocabulary) logits, without TRL's entropy and accuracy statistics,
  and without its recomputation of the head in the backward pass.

The paper's wrapped packing (cross-example attention inside a 512-token row) is kept as it is.
Evaluation and multi-process training (a wrapped model) go through TRL's own loss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from engine.spec import RunSpec

# Activation bytes per token and layer without checkpointing, in units of the element size: the
# inputs and outputs the backward pass keeps (norms, projections, attention output, the MLP's three
# hidden-size × ratio tensors). A deliberate over-estimate: too small a micro-batch costs speed,
# too large one an out-of-memory failure.
ACTIVATION_FACTOR_HIDDEN = 24
ACTIVATION_FACTOR_FFN = 8
MEMORY_HEADROOM = 0.6  # share of the free memory the activations may take


@dataclass(frozen=True)
class SpeedPlan:
    """How a run trains: the micro-batch split and which optimisations are on."""

    speed: str
    micro_batch: int
    grad_accum: int
    gradient_checkpointing: bool
    padding_free: bool
    chunked_loss: bool
    loss_backend: str
    packed_linears: bool = False  # frozen linears on oneDNN-packed weights (CPU; engine.models.cpu_linear)
    fast_dropout: bool = False  # LoRA dropout masks from PCG64, kept as booleans (CPU; engine.models.cpu_dropout)

    def to_dict(self) -> dict[str, Any]:
        """The plan as a plain dict (the run's `train_path` event)."""
        return asdict(self)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def activation_bytes_per_token(config: Any, element_bytes: int, checkpointing: bool) -> int:
    """A rough upper estimate of the activation memory one training token needs."""
    hidden = int(getattr(config, "hidden_size", 1024))
    ffn = int(getattr(config, "intermediate_size", 4 * hidden))
    layers = int(getattr(config, "num_hidden_layers", 24))
    per_layer = (ACTIVATION_FACTOR_HIDDEN * hidden + ACTIVATION_FACTOR_FFN * ffn) * element_bytes
    if checkpointing:  # one layer's input kept per layer, one layer's activations live at a time
        return layers * hidden * element_bytes + per_layer
    return layers * per_layer


def plan(spec: RunSpec, device: str, model: Any, trainable: int, free_bytes: int | None = None,
         previous: dict[str, Any] | None = None) -> SpeedPlan:
    """The plan for this run on this device (the reference path: the spec's settings unchanged).
    `previous`, the plan a resumed run started with, keeps its micro-batch split and checkpointing:
    the free memory may differ now, and the resumed run must compute what the uninterrupted one did."""
    t = spec.train
    reference = SpeedPlan("reference", t.batch_size, t.grad_accum, t.gradient_checkpointing, False, False, "trl")
    if t.speed == "reference" or spec.resources.gpus > 1:
        return reference
    from engine.models.loss import backend

    padding_free = not t.packing or t.packing_strategy == "bfd"
    micro, checkpointing = t.batch_size, t.gradient_checkpointing
    before = int(previous.get("micro_batch") or 0) if previous and previous.get("speed") == "fast" else 0
    if before and t.effective_batch % before == 0:
        micro, checkpointing = before, bool(previous.get("gradient_checkpointing"))
    elif device == "cuda":
        from engine.models.memory import free_memory_bytes

        free = free_memory_bytes(device) if free_bytes is None else free_bytes
        micro, checkpointing = _fit(spec, model, trainable, free)
    from engine.models import cpu_linear

    dropout = device == "cpu" and spec.method in ("lora", "qlora") and spec.lora.dropout > 0
    if before:  # a resumed run draws its masks as it started (a run from before the option: nn.Dropout's)
        dropout = dropout and bool(previous.get("fast_dropout"))
    return SpeedPlan("fast", micro, t.effective_batch // micro, checkpointing, padding_free, True, backend(device),
                     packed_linears=device == "cpu" and cpu_linear.available(), fast_dropout=dropout)


def previous_plan(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last `train_path` event of a run (the plan it trained with), if any."""
    plans = [e for e in events if e.get("type") == "train_path"]
    return plans[-1] if plans else None


def _fit(spec: RunSpec, model: Any, trainable: int, free: int | None) -> tuple[int, bool]:
    """The largest micro-batch dividing the effective batch whose activations fit, first without
    gradient checkpointing, then (if the spec asked for it) with it; never below the spec's own."""
    t = spec.train
    if free is None:
        return t.batch_size, t.gradient_checkpointing
    config = getattr(model, "config", None)
    element = 2 if spec.train.precision != "fp32" else 4
    # AdamW keeps two fp32 moments per trainable parameter, plus its gradient, allocated at the first step
    budget = MEMORY_HEADROOM * max(free - trainable * 12, 0)
    for checkpointing in ((False, True) if t.gradient_checkpointing else (False,)):
        per_row = activation_bytes_per_token(config, element, checkpointing) * t.max_length
        fitting = [d for d in _divisors(t.effective_batch) if d * per_row <= budget]
        if fitting and max(fitting) >= t.batch_size:
            return max(fitting), checkpointing
    return t.batch_size, t.gradient_checkpointing


def configure(config: Any, speed: SpeedPlan) -> None:
    """Apply the plan's micro-batch split and checkpointing to a TRL SFTConfig, in place."""
    config.per_device_train_batch_size = speed.micro_batch
    config.gradient_accumulation_steps = speed.grad_accum
    config.activation_checkpointing = speed.gradient_checkpointing
    config.activation_checkpointing_kwargs = {"use_reentrant": False} if speed.gradient_checkpointing else None


def trainer_class(speed: SpeedPlan) -> type:
    """SFTTrainer for the reference path; a subclass with the padding-free collator and the chunked
    loss for the fast one."""
    from trl import SFTTrainer

    if speed.speed != "fast":
        return SFTTrainer
    return _fast_trainer(SFTTrainer, speed)


def _fast_trainer(base: type, speed: SpeedPlan) -> type:
    from engine.models.loss import linear_cross_entropy
    from engine.models.packing import PaddingFreeCollator

    class FastSFTTrainer(base):  # type: ignore[valid-type, misc]
        """SFTTrainer with padding-free training rows and a chunked loss over labelled tokens."""

        speed_plan = speed

        def get_train_dataloader(self) -> Any:
            """Training batches in padding-free rows when the plan says so; evaluation keeps TRL's
            collator (the teacher-forced metrics align logits with validation rows)."""
            if not self.speed_plan.padding_free:
                return super().get_train_dataloader()
            with _collator(self, PaddingFreeCollator(self.processing_class.pad_token_id, self.args.max_length)):
                return super().get_train_dataloader()

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            """Training: the backbone's hidden states, then the chunked loss over labelled tokens,
            normalised as TRL's (by the tokens of the whole optimiser step). Otherwise TRL's own."""
            causal = model.get_base_model() if hasattr(model, "get_base_model") else model
            if return_outputs or not model.training or not _plain_head(causal) or \
                    model is not self.accelerator.unwrap_model(model):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            inputs = dict(inputs)
            labels = inputs.pop("labels")
            if "position_ids" in inputs:  # padding-free rows: the mask comes from the position ids
                inputs.pop("attention_mask", None)
            hidden = causal.base_model(**inputs, use_cache=False).last_hidden_state[:, :-1]
            targets = labels[:, 1:]
            mask = targets != -100
            head = causal.get_output_embeddings()
            total = linear_cross_entropy(hidden[mask], head.weight, getattr(head, "bias", None), targets[mask])
            count = mask.sum() if num_items_in_batch is None else num_items_in_batch
            return total / _as_tensor(count, total.device).clamp(min=1)

    return FastSFTTrainer


@contextlib.contextmanager
def _collator(trainer: Any, collator: Any) -> Iterator[None]:
    """`trainer` collates with `collator` inside the block (the dataloader keeps it afterwards)."""
    saved = trainer.data_collator
    trainer.data_collator = collator
    try:
        yield
    finally:
        trainer.data_collator = saved


def _as_tensor(value: Any, device: Any) -> Any:
    """`value` (an int or a tensor) as a tensor on `device` (torch is imported lazily here)."""
    import torch

    return torch.as_tensor(value, device=device)


def _plain_head(model: Any) -> bool:
    """Whether the model's logits are the plain head projection (no soft-capping or scaling, which
    the chunked loss does not apply)."""
    config = getattr(model, "config", None)
    text = config.get_text_config() if config is not None and hasattr(config, "get_text_config") else config
    return (text is not None and getattr(text, "final_logit_softcapping", None) is None
            and getattr(text, "logit_scale", None) in (None, 1, 1.0)
            and getattr(text, "logits_scaling", None) in (None, 1, 1.0)
            and hasattr(model, "base_model") and model.get_output_embeddings() is not None)
