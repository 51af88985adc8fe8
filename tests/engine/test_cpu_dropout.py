"""LoRA dropout with PCG64 masks (engine.models.cpu_dropout): nn.Dropout's distribution, scaling,
gradient and eval-mode identity; masks decided by PyTorch's seed; swapped into a PEFT model and
restored; and on a tiny model a training curve within dropout noise of the reference path's."""

from __future__ import annotations

import math

import pytest
import torch

from engine.models import cpu_dropout
from engine.models import load as models
from engine.settings import load_settings
from engine.spec import parse_run_spec
from tests.engine.training_helpers import loss_curve

RECORDS = [
    {"prompt": [{"role": "user", "content": f"Return the square of {i}" + ", please" * (i % 4)}],
     "completion": [{"role": "assistant", "content": f"def square():\n    return {i} * {i}\n" * (1 + i % 2)}]}
    for i in range(24)
]


def test_masks_keep_each_element_with_probability_one_minus_p():
    n = 1_000_000
    for p in (0.05, 0.1, 0.5):
        kept = cpu_dropout.keep_mask((1000, 1000), p, seed=3).sum().item()
        sigma = math.sqrt(n * p * (1 - p))
        assert abs(kept - n * (1 - p)) < 5 * sigma, (p, kept)
    odd = cpu_dropout.keep_mask((7, 3), 0.1, seed=1)  # an odd count: half of a 64-bit draw unused
    assert odd.shape == (7, 3) and odd.dtype == torch.bool
    assert torch.equal(cpu_dropout.keep_mask((64, 64), 0.1, 5), cpu_dropout.keep_mask((64, 64), 0.1, 5))
    assert not torch.equal(cpu_dropout.keep_mask((64, 64), 0.1, 5), cpu_dropout.keep_mask((64, 64), 0.1, 6))


def test_dropout_scales_kept_elements_and_their_gradient_and_is_identity_in_eval():
    layer = cpu_dropout.CPUDropout(0.25)
    x = torch.randn(64, 48, requires_grad=True)
    y = layer(x)
    kept = y != 0
    assert 0.6 < kept.float().mean().item() < 0.9
    assert torch.allclose(y[kept], x.detach()[kept] / 0.75)
    upstream = torch.randn_like(y)
    y.backward(upstream)
    assert torch.allclose(x.grad, torch.where(kept, upstream / 0.75, 0.0))
    layer.eval()
    assert layer(x) is x
    assert cpu_dropout.CPUDropout(0.0)(x) is x


def test_masks_follow_pytorchs_seed():
    """A run is repeatable from its seed: the masks come from PyTorch's default generator's state."""
    layer, x = cpu_dropout.CPUDropout(0.1), torch.ones(32, 32)
    torch.manual_seed(11)
    first = [layer(x) for _ in range(3)]
    torch.manual_seed(11)
    again = [layer(x) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[0], first[1])  # each call draws a new mask


def test_gradient_checkpointing_recomputes_the_same_mask():
    """Checkpointing recomputes the forward in the backward pass; it restores PyTorch's generator
    first, so the mask (seeded from it) is drawn again identically and the gradients are those of
    the forward that ran."""
    from torch.utils.checkpoint import checkpoint

    layer = cpu_dropout.CPUDropout(0.5)
    weight = torch.randn(16, 16, requires_grad=True)
    x = torch.randn(8, 16)

    def block(inputs):
        return (layer(inputs) @ weight).tanh()

    torch.manual_seed(3)
    block(x).sum().backward()
    plain, weight.grad = weight.grad.clone(), None
    torch.manual_seed(3)
    checkpoint(block, x, use_reentrant=False).sum().backward()
    assert torch.allclose(weight.grad, plain)
    torch.manual_seed(4)  # another mask: other gradients (the comparison can fail)
    weight.grad = None
    block(x).sum().backward()
    assert not torch.allclose(weight.grad, plain)


def _spec(model_dir, dropout=0.1, speed="fast"):
    return parse_run_spec({
        "model": {"id": str(model_dir)}, "method": "lora", "tasks": ["gen-python"],
        "lora": {"r": 8, "alpha": 16, "dropout": dropout, "target_modules": ["q_proj", "v_proj", "up_proj"]},
        "train": {"max_steps": 6, "batch_size": 2, "grad_accum": 2, "learning_rate": 1e-2, "max_length": 128,
                  "save_steps": 100, "scheduler": "constant", "logging_steps": 1, "speed": speed},
    })


def test_the_swap_covers_every_lora_dropout_and_restores_them(tiny_model):
    spec = _spec(tiny_model)
    model = models.apply_method(models.load_base_model(spec, load_settings(), "cpu"), spec)
    model.train()
    originals = {id(m) for m in model.modules() if type(m) is torch.nn.Dropout and m.p == 0.1}
    layers = model.get_base_model().config.num_hidden_layers
    assert len(originals) == 3 * layers  # q_proj, v_proj, up_proj per layer
    with cpu_dropout.fast_dropout(model) as swapped:
        assert swapped == len(originals)
        replaced = [m for m in model.modules() if isinstance(m, cpu_dropout.CPUDropout)]
        assert len(replaced) == swapped and all(m.training and m.p == 0.1 for m in replaced)
    assert not any(isinstance(m, cpu_dropout.CPUDropout) for m in model.modules())
    assert {id(m) for m in model.modules() if type(m) is torch.nn.Dropout and m.p == 0.1} == originals
    plain = _spec(tiny_model, dropout=0.0)
    identity = models.apply_method(models.load_base_model(plain, load_settings(), "cpu"), plain)
    with cpu_dropout.fast_dropout(identity) as swapped:
        assert swapped == 0  # dropout 0 is PEFT's nn.Identity: nothing to draw


def test_the_plan_draws_pcg64_masks_on_a_cpu_and_a_resumed_run_keeps_its_masks(tiny_model):
    from engine.models import fast

    spec = _spec(tiny_model)
    model = models.load_base_model(spec, load_settings(), "cpu")
    assert fast.plan(spec, "cpu", model, trainable=1).fast_dropout
    assert not fast.plan(spec, "cuda", model, trainable=1, free_bytes=2**34).fast_dropout  # CUDA's dropout is fused
    assert not fast.plan(_spec(tiny_model, dropout=0.0), "cpu", model, trainable=1).fast_dropout
    assert not fast.plan(_spec(tiny_model, speed="reference"), "cpu", model, trainable=1).fast_dropout
    started = {"speed": "fast", "micro_batch": 2, "gradient_checkpointing": False}  # a plan from before the option
    assert not fast.plan(spec, "cpu", model, trainable=1, previous=started).fast_dropout
    assert fast.plan(spec, "cpu", model, trainable=1, previous={**started, "fast_dropout": True}).fast_dropout


@pytest.fixture(name="curve")
def _curve_fixture(tmp_path):
    def curve(spec, name):
        losses, _, path = loss_curve(spec, tmp_path / name, RECORDS)
        return losses, path

    return curve


def test_training_with_pcg64_dropout_is_repeatable_and_within_dropout_noise_of_the_reference(
        tiny_model, curve, monkeypatch):
    """The fast path on a CPU draws other masks than nn.Dropout: its curve repeats exactly from the
    seed, and the reference's curve lies as close to it as the fast path's own curves under other
    draws lie to each other (the scale of dropout noise; without dropout the paths are equal,
    tests/engine/test_train_speed.py)."""
    reference, ref_path = curve(_spec(tiny_model, speed="reference"), "reference")
    fast, fast_path = curve(_spec(tiny_model), "fast")
    again, _ = curve(_spec(tiny_model), "again")
    assert fast_path["fast_dropout"] is True and ref_path.get("fast_dropout") is False
    assert fast == again  # repeatable from spec and seed
    assert fast != pytest.approx(reference, rel=1e-4)  # other draws (else this test tests nothing)
    assert reference[-1] < reference[0] and fast[-1] < fast[0]
    draws = [fast]
    keep_mask = cpu_dropout.keep_mask
    for other in (1, 2):  # the same run with other masks: each stream's seed changed
        monkeypatch.setattr(cpu_dropout, "keep_mask", lambda shape, p, seed, k=other: keep_mask(shape, p, seed ^ k))
        draws.append(curve(_spec(tiny_model), f"draw-{other}")[0])
    spread = max(abs(a[i] - b[i]) for a in draws for b in draws for i in range(len(fast)))
    assert spread > 0
    assert max(abs(r - d[i]) for d in draws for i, r in enumerate(reference)) <= 1.5 * spread
