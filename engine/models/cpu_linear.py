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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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
        return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")  # pylint: disable=protected-access

    return forward


@contextlib.contextmanager
def packed_linears(model: Any, free_bytes: int | None = None) -> Iterator[int]:
    """Run the model's plain CPU linears on packed weights inside the block; yields how many."""
    from engine.models.fast import free_memory_bytes

    linears = _plain_linears(model) if available() else []
    weight_bytes = sum(m.weight.numel() * m.weight.element_size() for m in linears)
    free = free_memory_bytes("cpu") if free_bytes is None else free_bytes
    if not linears or free is None or free < 2 * weight_bytes:
        yield 0
        return
    patched: list[torch.nn.Linear] = []
    try:
        with torch.no_grad():
            for module in linears:
                packed = torch.ops.mkldnn._reorder_linear_weight(module.weight.detach())  # pylint: disable=protected-access
                module.forward = _packed_forward(packed, module.bias)
                patched.append(module)
        yield len(patched)
    finally:
        for module in patched:
            del module.forward  # the instance attribute: the class's forward again
