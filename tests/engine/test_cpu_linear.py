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
