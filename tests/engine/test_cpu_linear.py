"""engine.models.cpu_linear: packed linears give the plain layers' outputs (to float rounding), only
inside the block, only for plain nn.Linear on a CPU, and not at all when RAM is short."""

from __future__ import annotations

import pytest
import torch

from engine.models import cpu_linear

pytestmark = pytest.mark.skipif(not cpu_linear.available(), reason="no oneDNN packed linear ops in this build")


class _Quantised(torch.nn.Linear):
    """Stands in for a Linear subclass (bitsandbytes' Linear4bit): must be left alone."""


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8, bias=False),
                               _Quantised(8, 8))


def test_packed_outputs_equal_plain_ones_and_forward_comes_back():
    model = _model()
    x = torch.randn(3, 5, 16)
    with torch.inference_mode():
        plain = model(x)
        with cpu_linear.packed_linears(model, free_bytes=1 << 30) as count:
            assert count == 2  # the two plain linears, not the subclass
            assert "forward" in vars(model[0]) and "forward" not in vars(model[3])
            packed = model(x)
        assert all("forward" not in vars(m) for m in model)
        again = model(x)
    torch.testing.assert_close(packed, plain, rtol=1e-5, atol=1e-5)
    assert torch.equal(again, plain)


def test_nothing_is_packed_without_room_for_a_second_copy():
    model = _model()
    weights = sum(m.weight.numel() * 4 for m in model if type(m) is torch.nn.Linear)
    with cpu_linear.packed_linears(model, free_bytes=2 * weights - 1) as count:
        assert count == 0 and all("forward" not in vars(m) for m in model)
    with cpu_linear.packed_linears(model, free_bytes=2 * weights) as count:
        assert count == 2


def test_forward_comes_back_when_the_block_raises():
    model = _model()
    with pytest.raises(RuntimeError, match="stop"), cpu_linear.packed_linears(model, free_bytes=1 << 30):
        raise RuntimeError("stop")
    assert all("forward" not in vars(m) for m in model)


def _lora_like() -> torch.nn.Module:
    """A frozen base linear beside a trainable one, as LoRA leaves them."""
    model = _model()
    model[0].requires_grad_(False)
    return model


def test_frozen_linears_train_on_packed_weights_with_the_plain_gradients():
    model = _lora_like()
    x = torch.randn(3, 5, 16, requires_grad=True)
    target = torch.randn(3, 5, 8)

    def grads():
        model.zero_grad()
        x.grad = None
        loss = ((model(x) - target) ** 2).sum()
        loss.backward()
        return loss.detach(), x.grad.clone(), model[2].weight.grad.clone()

    plain = grads()
    with cpu_linear.frozen_packed_linears(model, free_bytes=1 << 30) as count:
        assert count == 1  # the frozen base; the trainable linear and the subclass keep their own forward
        assert "forward" in vars(model[0]) and "forward" not in vars(model[2])
        packed = grads()
    assert all("forward" not in vars(m) for m in model)
    for a, b in zip(plain, packed, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_frozen_linears_fall_back_under_autocast():
    model = _lora_like()
    x = torch.randn(4, 16)
    with cpu_linear.frozen_packed_linears(model, free_bytes=1 << 30), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model[0](x)
    assert out.dtype == torch.bfloat16  # autocast's own linear ran, not the fp32 packed one
