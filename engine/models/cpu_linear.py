"""Linear layers on oneDNN-prepacked weights while the token loop generates on a CPU.

A decode step multiplies a few rows (the batch) by every weight matrix of the model. PyTorch's
default CPU path (MKL sgemm on the weight as stored) re-lays out the weight into its blocked format
inside every call; oneDNN can do that once (`torch.ops.mkldnn._reorder_linear_weight`, the op
inductor's CPU freezing uses) and then run each call on the packed weight. Measured on a 2-core
AVX-512 machine (SmolLM2-135M's linears at batch 16): 37 ms instead of 82 ms per step. The result
differs from the default path by float rounding only (about 2e-6 absolute on these logits), like
any change of batch size does; greedy outputs are compared with generate()'s in
tests/engine/test_generate_fast.py and bench/bench_engine.py.

`packed_linears(model)` swaps the forward of each plain `torch.nn.Linear` (not quantised or adapter
layers, which are subclasses or wrappers) for the packed one, and restores it on exit. The packed
copies cost the linears' weight bytes once more; where the available RAM is short of twice that,
nothing is packed.

`frozen_packed_linears(model)` does the same for training (the fast path on a CPU): the frozen
linears of LoRA (the base layers; adapters and anything trainable stay as they are) run their
forward on the packed weight and their backward (the input's gradient, grad @ W) on a packed copy
of the transpose, so both matrix products of a frozen layer skip the per-call re-layout. The
output head is left as it is: the fast path's chunked loss multiplies by its weight directly. Under
autocast, or for an input of another dtype, a layer falls back to `torch.nn.functional.linear`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch

_DTYPES = (torch.float32, torch.bfloat16)


def available() -> bool:
    """Whether this PyTorch build has oneDNN's packed linear ops."""
    ops = torch.ops.mkldnn
    return (torch.backends.mkldnn.is_available() and hasattr(ops, "_linear_pointwise")
            and hasattr(ops, "_reorder_linear_weight"))


def _plain_linears(model: Any) -> list[torch.nn.Linear]:
    return [m for m in model.modules() if type(m) is torch.nn.Linear  # pylint: disable=unidiomatic-typecheck
            and m.weight.device.type == "cpu" and m.weight.dtype in _DTYPES]


def _packed_forward(packed: torch.Tensor, bias: torch.Tensor | None) -> Any:
    def forward(x: torch.Tensor) -> torch.Tensor:
        return _pointwise(x, packed, bias)

    return forward


@contextlib.contextmanager
def _swapped(linears: list[torch.nn.Linear], forward_of: Callable[[torch.nn.Linear], Any], copies: int,
             free_bytes: int | None) -> Iterator[int]:
    """Inside the block each of `linears` runs `forward_of(module)` (built once, under no_grad);
    nothing is swapped unless the available RAM holds `copies` × their weight bytes. Yields how many."""
    from engine.models.memory import free_memory_bytes

    weight_bytes = sum(m.weight.numel() * m.weight.element_size() for m in linears)
    free = free_memory_bytes("cpu") if free_bytes is None else free_bytes
    if not linears or free is None or free < copies * weight_bytes:
        yield 0
        return
    patched: list[torch.nn.Linear] = []
    try:
        with torch.no_grad():
            for module in linears:
                module.forward = forward_of(module)
                patched.append(module)
        yield len(patched)
    finally:
        for module in patched:
            del module.forward  # the instance attribute: the class's forward again


def _reorder(weight: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous())  # pylint: disable=protected-access


def packed_linears(model: Any, free_bytes: int | None = None) -> contextlib.AbstractContextManager[int]:
    """Run the model's plain CPU linears on packed weights inside the block; yields how many."""
    linears = _plain_linears(model) if available() else []
    return _swapped(linears, lambda m: _packed_forward(_reorder(m.weight), m.bias), 2, free_bytes)


def _pointwise(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")  # pylint: disable=protected-access


class _FrozenLinear(torch.autograd.Function):  # pylint: disable=abstract-method
    """y = x W^T + b with W and b frozen: the backward returns the input's gradient only."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, packed: torch.Tensor,  # pylint: disable=arguments-differ
                packed_t: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.packed_t = packed_t
        return _pointwise(x, packed, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:  # pylint: disable=arguments-differ
        return _pointwise(grad.contiguous(), ctx.packed_t, None), None, None, None


def _frozen_forward(module: torch.nn.Linear, packed: torch.Tensor, packed_t: torch.Tensor) -> Any:
    weight, bias = module.weight, module.bias

    def forward(x: torch.Tensor) -> torch.Tensor:
        if x.dtype != weight.dtype or torch.is_autocast_enabled("cpu"):
            return torch.nn.functional.linear(x, weight, bias)
        return _FrozenLinear.apply(x, packed, packed_t, bias)

    return forward


def frozen_packed_linears(model: Any, free_bytes: int | None = None) -> contextlib.AbstractContextManager[int]:
    """Inside the block, the model's frozen plain CPU linears train on packed weights; yields how many."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    linears = [m for m in (_plain_linears(model) if available() else [])
               if not m.weight.requires_grad and (m.bias is None or not m.bias.requires_grad) and m is not head]
    # two packed copies (W and its transpose), and room to spare
    return _swapped(linears, lambda m: _frozen_forward(m, _reorder(m.weight), _reorder(m.weight.t())), 3,
                    free_bytes)
