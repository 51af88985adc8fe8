"""The optimised training path (train.speed: fast) against the reference (TRL's SFTTrainer as
configured): the chunked loss equals the full cross-entropy with its gradients, padding-free rows
give the padded batch's loss (no attention across examples), the micro-batch plan keeps the
effective batch, and on a tiny model the two paths' loss curves match step for step."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.models import fast
from engine.models import load as models
from engine.models.loss import linear_cross_entropy
from engine.models.packing import PaddingFreeCollator, bin_segments
from engine.settings import load_settings
from engine.spec import parse_run_spec
from tests.engine.training_helpers import loss_curve

RECORDS = [
    {"prompt": [{"role": "system", "content": "You are an expert Python developer."},
                {"role": "user", "content": f"Write a function that returns {i}." + " and more" * (i % 5)}],
     "completion": [{"role": "assistant", "content": f"def f():\n    return {i}\n" * (1 + i % 3)}]}
    for i in range(8)
]


def _spec(model_dir, speed, method="lora", **overrides):
    return parse_run_spec({
        "model": {"id": str(model_dir)}, "method": method, "tasks": ["gen-python"],
        # dropout 0: otherwise the two paths draw different dropout masks (shapes differ) and the
        # curves differ by that noise, not by what is tested here
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": ["q_proj", "v_proj", "up_proj"]},
        "train": {"max_steps": 4, "batch_size": 2, "grad_accum": 2, "learning_rate": 1e-2, "max_length": 128,
                  "save_steps": 100, "scheduler": "constant", "logging_steps": 1, "speed": speed, **overrides},
    })


def _curve(spec, tmp_path, name):
    return loss_curve(spec, tmp_path / name, RECORDS * 2)


def test_chunked_cross_entropy_equals_the_full_one_with_its_gradients():
    """Loss and gradients (hidden, head, bias) equal the full cross-entropy's, over uneven chunks."""
    torch.manual_seed(0)
    hidden = torch.randn(37, 16, requires_grad=True)
    weight = torch.randn(101, 16, requires_grad=True)
    bias = torch.randn(101, requires_grad=True)
    targets = torch.randint(0, 101, (37,))
    chunked = linear_cross_entropy(hidden, weight, bias, targets, rows=5)  # 8 chunks, the last one short
    chunked.backward()
    grads = [x.grad.clone() for x in (hidden, weight, bias)]
    for x in (hidden, weight, bias):
        x.grad = None
    full = F.cross_entropy(hidden @ weight.t() + bias, targets, reduction="sum")
    full.backward()
    assert chunked.item() == pytest.approx(full.item(), rel=1e-5)
    for got, x in zip(grads, (hidden, weight, bias), strict=True):
        assert torch.allclose(got, x.grad, atol=1e-4), (got - x.grad).abs().max()
    frozen = linear_cross_entropy(hidden.detach().requires_grad_(), weight.detach(), None, targets, rows=7)
    frozen.backward()  # a frozen head (LoRA): no weight gradient is asked for or computed


def test_rows_are_packed_first_fit_decreasing():
    """Longest first, each into the first row with room; an over-long segment alone."""
    assert bin_segments([5, 3, 4, 2, 1], capacity=6) == [[0, 4], [2, 3], [1]]
    assert bin_segments([9], capacity=4) == [[0]]  # too long: a row of its own


def test_padding_free_rows_give_the_padded_batch_loss(tiny_model):
    """Examples packed into rows with restarting position ids: the same summed loss and the same
    count of trained tokens as the padded batch, so no token attends to another example."""
    spec = _spec(tiny_model, "fast")
    model = models.load_base_model(spec, load_settings(), "cpu").eval()
    lengths = (7, 12, 5, 9)
    examples = [{"input_ids": [(3 + 7 * i + j) % 200 + 4 for j in range(n)],
                 "labels": [-100] * 2 + [(3 + 7 * i + j) % 200 + 4 for j in range(2, n)]}
                for i, n in enumerate(lengths)]
    batch = PaddingFreeCollator(pad_token_id=0, max_length=20)(examples)
    assert batch["input_ids"].shape[0] < len(examples)  # several examples share a row
    assert batch["position_ids"].max().item() == max(lengths) - 1

    def summed(logits, labels):
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                               ignore_index=-100, reduction="sum")

    with torch.no_grad():
        # no cache, as in training: transformers reads packed sequences off the position ids only then
        packed = summed(model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                              use_cache=False).logits, batch["labels"])
        padded = sum(summed(model(input_ids=torch.tensor([e["input_ids"]]), use_cache=False).logits,
                            torch.tensor([e["labels"]])) for e in examples)
        attending = summed(model(input_ids=batch["input_ids"], use_cache=False).logits,
                           batch["labels"])  # plain causal rows
    trained = sum(sum(1 for x in e["labels"][1:] if x != -100) for e in examples)
    assert (batch["labels"][:, 1:] != -100).sum().item() == trained
    assert packed.item() == pytest.approx(padded.item(), rel=1e-5)
    assert abs(attending.item() - padded.item()) > 1e-3  # the test can tell attention across examples


@pytest.mark.parametrize("packing", [False, True], ids=["padding-free", "paper-wrapped"])
def test_the_fast_path_follows_the_reference_loss_curve(tiny_model, tmp_path, packing):
    """Unpacked completion-only examples (padding-free rows on the fast path) and the paper's
    wrapped packing with whole-text loss (rows kept as they are): the same tokens and, step for
    step, the same loss as TRL's own path (fp32: only the order of float sums differs)."""
    overrides = {"packing": packing, "completion_only_loss": not packing}
    reference, ref_tokens, ref_path = _curve(_spec(tiny_model, "reference", **overrides), tmp_path, "reference")
    optimised, fast_tokens, fast_path = _curve(_spec(tiny_model, "fast", **overrides), tmp_path, "fast")
    assert ref_path["speed"] == "reference" and fast_path["speed"] == "fast" and fast_path["chunked_loss"]
    assert fast_path["padding_free"] is (not packing)
    assert len(reference) == len(optimised) == 4 and fast_tokens == ref_tokens
    assert reference[-1] < reference[0]  # it learns, so equal curves are not two flat lines
    assert optimised == pytest.approx(reference, rel=2e-4)


def test_the_plan_trades_accumulation_for_micro_batch_where_memory_allows(tiny_model):
    """Same effective batch; larger micro-batches only where (CUDA) memory allows; a resume keeps its split."""
    spec = _spec(tiny_model, "fast", batch_size=2, grad_accum=16, gradient_checkpointing=True)
    model = models.load_base_model(spec, load_settings(), "cpu")
    roomy = fast.plan(spec, "cuda", model, trainable=10_000, free_bytes=80 * 2**30)
    assert roomy.micro_batch * roomy.grad_accum == 32 and roomy.micro_batch == 32
    assert roomy.gradient_checkpointing is False  # memory and speed only; fits without it
    tight = fast.plan(spec, "cuda", model, trainable=10_000, free_bytes=2**20)
    assert (tight.micro_batch, tight.grad_accum, tight.gradient_checkpointing) == (2, 16, True)
    cpu = fast.plan(spec, "cpu", model, trainable=10_000)
    assert (cpu.micro_batch, cpu.grad_accum) == (2, 16)  # RSS would grow with the micro-batch
    resumed = fast.plan(spec, "cuda", model, trainable=10_000, free_bytes=2**20,
                        previous={"speed": "fast", "micro_batch": 8, "gradient_checkpointing": False})
    assert (resumed.micro_batch, resumed.grad_accum) == (8, 4)  # a resume keeps the split it started with
    reference = fast.plan(_spec(tiny_model, "reference"), "cuda", model, trainable=1, free_bytes=80 * 2**30)
    assert (reference.speed, reference.micro_batch, reference.chunked_loss) == ("reference", 2, False)


def test_the_default_speed_keeps_existing_run_ids(tiny_model):
    """A spec without `train.speed` is the fast default and keeps its hash; `reference` is another run."""
    spec = _spec(tiny_model, "fast")
    data = spec.model_dump(mode="json")
    del data["train"]["speed"]
    assert parse_run_spec(data).train.speed == "fast"
    assert parse_run_spec(data).run_id() == spec.run_id()  # a spec written before the option: same id
    assert _spec(tiny_model, "reference").run_id() != spec.run_id()
