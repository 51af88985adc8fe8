"""What a run cost, and which runs give the most for it: pure functions over what a run recorded.

- `run_cost(events, method)`: one run's cost summary from its events (the train phase's
  `model_ready`, `train` and `trained` records, engine.phases.train / engine.models.trainer):
  trainable and total parameters, the size of the saved adapter (or model) on disk, peak memory,
  training time, training tokens/s, GPU-hours on a GPU, and the model FLOPs utilisation.
  `cost_from_facts` does the same from facts already gathered (the store aggregates them in SQL).
- `mfu`: (4·N FLOPs per token for LoRA/QLoRA, 6·N for full fine-tuning; N = total parameters)
  × tokens/s ÷ (the device's peak dense bf16 FLOP/s × processes). The forward pass costs 2·N per
  token and the backward pass 4·N when every weight needs a gradient (FFT) but only 2·N when the
  frozen weights need none (the activations' gradients still flow through them). On a CPU or an
  unknown device, None: there is no peak to divide by, and tokens/s is the figure to read.
- `pareto_frontier(costs, values)`: which points no other point beats on both quality and cost.

Nothing here imports torch or reads files.
"""

from __future__ import annotations

import math
import numbers
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

# FLOPs per trained token, as a multiple of the total parameter count (see the module docstring).
FLOPS_FACTOR: dict[str, int] = {"lora": 4, "qlora": 4, "fft": 6}

# Peak dense bf16 tensor FLOP/s (no sparsity) per GPU, from the vendors' datasheets; matched against
# torch.cuda.get_device_name() in this order, so a more specific name comes before a shorter one
# that it contains (H100 PCIe before H100). fp16 for the GPUs without bf16 (V100, T4).
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    (r"GH200", 989e12),
    (r"H200", 989e12),
    (r"H100.*PCIe", 756e12),
    (r"H100.*NVL", 835e12),
    (r"H100|H800", 989e12),
    (r"B200", 2250e12),
    (r"B100", 1750e12),
    (r"A100|A800", 312e12),
    (r"L40S", 362e12),
    (r"L40\b", 181e12),
    (r"\bL4\b", 121e12),
    (r"A6000", 155e12),
    (r"\bA10\b", 125e12),
    (r"RTX 4090", 165e12),
    (r"RTX 3090", 71e12),
    (r"V100", 125e12),
    (r"\bT4\b", 65e12),
    (r"MI300X", 1307e12),
    (r"MI250X", 383e12),
)


@dataclass(frozen=True)
class RunCost:
    """One run's cost. None where the run did not record it (or it does not apply)."""

    method: str | None
    trainable_params: int | None
    total_params: int | None
    weights_bytes: int | None  # what the run saved: the adapter (LoRA/QLoRA) or the whole model (FFT)
    peak_mem_mb: float | None
    train_seconds: float | None
    tokens_seen: int | None
    tokens_per_s: float | None  # steady training throughput (non-padding tokens, all processes)
    device: str | None  # cuda | cpu
    device_name: str | None
    world_size: int
    gpu_hours: float | None  # training only: seconds × processes / 3600 on a GPU, 0 without training
    peak_flops: float | None  # of one device
    mfu: float | None

    @property
    def trainable_fraction(self) -> float | None:
        """Trainable over total parameters."""
        if self.trainable_params is None or not self.total_params:
            return None
        return self.trainable_params / self.total_params

    def to_dict(self) -> dict[str, Any]:
        """The fields plus trainable_fraction, as plain values."""
        # (not dataclasses.asdict: its deep copy cost a third of the store's cost query)
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, "trainable_fraction": self.trainable_fraction}


def peak_flops(device_name: str | None) -> float | None:
    """The peak dense bf16 FLOP/s of a GPU named like torch.cuda.get_device_name() (None: unknown)."""
    if not device_name:
        return None
    for pattern, flops in PEAK_FLOPS:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return flops
    return None


def flops_per_token(method: str | None, total_params: float | None) -> float | None:
    """Training FLOPs per token: 4·N for LoRA/QLoRA, 6·N for full fine-tuning (None otherwise)."""
    factor = FLOPS_FACTOR.get(method or "")
    if factor is None or not total_params or total_params <= 0:
        return None
    return factor * float(total_params)


def mfu(method: str | None, total_params: float | None, tokens_per_s: float | None, device: str | None,
        device_name: str | None, world_size: int = 1, peak: float | None = None) -> float | None:
    """Model FLOPs utilisation of a training run (None on a CPU or where a number is missing).

    `tokens_per_s` counts every process's tokens, so the peak is that of `world_size` devices;
    `peak` overrides the table (one device's FLOP/s).
    """
    if device != "cuda":
        return None
    per_token = flops_per_token(method, total_params)
    device_peak = peak if peak is not None else peak_flops(device_name)
    if per_token is None or device_peak is None or tokens_per_s is None or not _finite(tokens_per_s):
        return None
    return per_token * tokens_per_s / (device_peak * max(int(world_size or 1), 1))


def steady_tokens_per_s(rates: Sequence[float | None]) -> float | None:
    """The median of the logged training throughputs, in log order, leaving out the first one when
    there are others (it covers start-up: data loading, the first kernels, allocator growth)."""
    values = [float(r) for r in rates if r is not None and _finite(r) and r > 0]
    if len(values) > 1:
        values = values[1:]
    return statistics.median(values) if values else None


def cost_from_facts(method: str | None, facts: Mapping[str, Any]) -> RunCost:
    """A RunCost from gathered facts: trainable, total, weights_bytes, peak_mem_mb, seconds,
    tokens_seen, tokens_per_s, device, device_name, world_size (any may be missing or None)."""
    trains = method in FLOPS_FACTOR
    device = _text(facts.get("device"))
    device_name = _text(facts.get("device_name"))
    world = int(_number(facts.get("world_size")) or 1)
    seconds = _number(facts.get("seconds")) if trains else 0.0
    tokens_per_s = _number(facts.get("tokens_per_s"))
    tokens_seen = _number(facts.get("tokens_seen"))
    if tokens_per_s is None and trains and tokens_seen and seconds:
        tokens_per_s = tokens_seen / seconds  # no per-step record: the whole training's average
    total = _number(facts.get("total"))
    trainable = _number(facts.get("trainable"))
    if not trains and trainable is None:
        trainable = 0.0
    if not trains:
        gpu_hours: float | None = 0.0
    elif device == "cuda" and seconds is not None:
        gpu_hours = seconds * world / 3600
    else:
        gpu_hours = None
    peak = peak_flops(device_name) if device == "cuda" else None
    return RunCost(
        method=method,
        trainable_params=_int(trainable),
        total_params=_int(total),
        weights_bytes=_int(_number(facts.get("weights_bytes"))),
        peak_mem_mb=_number(facts.get("peak_mem_mb")),
        train_seconds=seconds,
        tokens_seen=_int(tokens_seen),
        tokens_per_s=tokens_per_s if trains else None,
        device=device,
        device_name=device_name,
        world_size=world,
        gpu_hours=gpu_hours,
        peak_flops=peak,
        mfu=mfu(method, total, tokens_per_s, device, device_name, world, peak) if trains else None,
    )


def training_facts(events: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The facts cost_from_facts reads, from a run's events (the last record of each kind wins;
    peak memory is the highest any record shows)."""
    facts: dict[str, Any] = {}
    rates: list[float | None] = []
    peaks: list[float] = []
    for event in events:
        kind = event.get("type")
        if kind == "model_ready":
            facts.update({k: event.get(k) for k in ("trainable", "total", "device") if event.get(k) is not None})
        elif kind == "train_begin":
            rates = []  # a resumed run: its throughput is what the last attempt logged
        elif kind == "train":
            rates.append(_number(event.get("tokens_per_s")))
        elif kind == "trained":
            facts.update({k: v for k, v in event.items() if k not in ("type", "t") and v is not None})
        peak = _number(event.get("peak_mem_mb"))
        if peak is not None:
            peaks.append(peak)
    facts["tokens_per_s"] = steady_tokens_per_s(rates)
    facts["peak_mem_mb"] = max(peaks) if peaks else None
    if facts.get("world_size") is None and facts.get("processes") is not None:
        facts["world_size"] = facts["processes"]  # the distributed path's own name for it
    return facts


def run_cost(events: Iterable[Mapping[str, Any]], method: str | None) -> RunCost:
    """One run's cost summary from its events (engine.runs.rundir.RunDir.read_events)."""
    return cost_from_facts(method, training_facts(events))


def pareto_frontier(costs: Sequence[float | None], values: Sequence[float | None],
                    higher_is_better: bool | None = True) -> list[bool]:
    """Which points are on the quality-vs-cost Pareto frontier: no other point has a cost as low
    and a value as good with one of them strictly better. Cost is minimised; the value maximised
    (minimised when `higher_is_better` is False; None, a metric of unknown direction, counts as
    higher is better). Points tied on both are all on the frontier; a point with a missing or NaN
    cost or value is never on it and beats none."""
    if len(costs) != len(values):
        raise ValueError(f"{len(costs)} costs but {len(values)} values")
    sign = -1.0 if higher_is_better is False else 1.0
    points = [(float(c), sign * float(v), i) for i, (c, v) in enumerate(zip(costs, values, strict=True))
              if _finite(c) and _finite(v)]
    points.sort(key=lambda p: (p[0], -p[1]))
    mask = [False] * len(costs)
    best = -math.inf  # the best value at any strictly lower cost
    start = 0
    while start < len(points):
        end = start
        while end < len(points) and points[end][0] == points[start][0]:
            end += 1
        top = points[start][1]  # sorted: the first of a cost group has its best value
        if top > best:
            for _, value, index in points[start:end]:
                mask[index] = value == top
            best = top
        start = end
    return mask


def _finite(value: Any) -> bool:
    # numbers.Real takes numpy's scalars too (what a DataFrame column hands over)
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: float | None) -> int | None:
    return round(value) if value is not None else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
