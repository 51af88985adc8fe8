"""Chunked linear cross-entropy: the language-model head and its loss in row chunks, so the
(tokens × vocabulary) logits are never materialised whole (152k columns for Qwen2.5-Coder).

`linear_cross_entropy(hidden, weight, bias, targets)` returns the summed negative log-likelihood of
`targets` under `softmax(hidden @ weight.T + bias)`. The gradients are computed chunk by chunk in
the forward pass (softmax − one-hot, then two matrix products) and only scaled in the backward, so
the head's matrix products run once each, with no recomputation, and at most one chunk of logits
lives at a time. On CUDA, Liger's fused kernel is used instead when it is importable.
"""

from __future__ import annotations

from typing import Any

import torch

# ~64 MiB of fp32 logits per chunk: small enough to vanish beside the activations, large enough that
# the chunk's matrix product stays efficient.
CHUNK_ELEMENTS = 1 << 24


def chunk_rows(vocab: int, elements: int = CHUNK_ELEMENTS) -> int:
    """Rows per chunk so that one chunk of logits holds about `elements` values."""
    return max(1, elements // max(vocab, 1))


class _LinearCrossEntropy(torch.autograd.Function):  # pylint: disable=abstract-method
    """sum_i −log softmax(h_i W^T + b)[t_i], gradients computed in the forward pass."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor,  # pylint: disable=arguments-differ
                bias: torch.Tensor | None, targets: torch.Tensor, rows: int) -> torch.Tensor:
        device_type = hidden.device.type
        # Under autocast the head runs in the autocast dtype, as the model's own lm_head would.
        dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else hidden.dtype
        w = weight.to(dtype)
        b = bias.to(dtype) if bias is not None else None
        need_h, need_w, need_b = ctx.needs_input_grad[0], ctx.needs_input_grad[1], bias is not None and \
            ctx.needs_input_grad[2]
        grad_h = torch.empty(hidden.shape, device=hidden.device, dtype=torch.float32) if need_h else None
        grad_w = torch.zeros(weight.shape, device=weight.device, dtype=torch.float32) if need_w else None
        grad_b = torch.zeros(bias.shape, device=bias.device, dtype=torch.float32) if need_b else None
        total = torch.zeros((), device=hidden.device, dtype=torch.float32)
        with torch.autocast(device_type, enabled=False):
            for start in range(0, hidden.shape[0], rows):
                h = hidden[start:start + rows].to(dtype)
                t = targets[start:start + rows]
                logits = torch.mm(h, w.t())
                if b is not None:
                    logits.add_(b)
                logits = logits.float()  # the loss in fp32, as transformers' ForCausalLMLoss does
                picked = logits.gather(1, t[:, None]).squeeze(1)
                # log-sum-exp in place over the chunk (torch.logsumexp makes two chunk-sized temporaries,
                # which on a CPU cost as much time as the head's matrix product)
                top = logits.amax(dim=1)
                sums = logits.sub_(top[:, None]).exp_().sum(dim=1)
                total += (top + sums.log() - picked).sum()
                if not (need_h or need_w or need_b):
                    continue
                # d loss / d logits = softmax − one-hot, in place over the chunk's exp(logits − max)
                grad = logits.div_(sums[:, None])
                grad.scatter_add_(1, t[:, None], torch.full_like(picked[:, None], -1.0))
                g = grad.to(dtype)
                if need_h:
                    grad_h[start:start + rows] = torch.mm(g, w).float()
                if need_w:
                    grad_w.addmm_(g.t().float(), h.float())
                if need_b:
                    grad_b += grad.sum(0)
        ctx.save_for_backward(*(x for x in (grad_h, grad_w, grad_b) if x is not None))
        ctx.which = (need_h, need_w, need_b)
        ctx.dtypes = (hidden.dtype, weight.dtype, bias.dtype if bias is not None else None)
        return total

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[Any, ...]:  # pylint: disable=arguments-differ
        saved = iter(ctx.saved_tensors)
        out: list[Any] = []
        for needed, dtype in zip(ctx.which, ctx.dtypes, strict=True):
            out.append((next(saved) * grad_output).to(dtype) if needed else None)
        return out[0], out[1], out[2], None, None


def _liger() -> Any:
    try:
        from liger_kernel.transformers.functional import (  # type: ignore[import-not-found]
            liger_fused_linear_cross_entropy,
        )
    except ImportError:
        return None
    return liger_fused_linear_cross_entropy


def backend(device_type: str) -> str:
    """Which implementation `linear_cross_entropy` uses on this device: 'liger' or 'chunked'."""
    return "liger" if device_type == "cuda" and _liger() is not None else "chunked"


def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                         targets: torch.Tensor, rows: int | None = None) -> torch.Tensor:
    """Summed cross-entropy of `targets` [N] under the head `weight` [V, H] (+ `bias`) applied to
    `hidden` [N, H], without materialising the [N, V] logits; fp32 scalar."""
    if hidden.shape[0] == 0:
        return hidden.sum(dtype=torch.float32) * 0.0  # keeps the graph connected on an empty chunk
    fused = _liger() if hidden.device.type == "cuda" else None
    if fused is not None:
        return fused(hidden, weight, targets, bias=bias, reduction="sum").float()
    return _LinearCrossEntropy.apply(hidden, weight, bias, targets, rows or chunk_rows(weight.shape[0]))
