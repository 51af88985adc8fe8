"""engine.scoring.cost: the Pareto frontier on hand-made points (ties, NaN, direction), the MFU
formula with its FLOPs factor per method, the device table, and a run's cost from its events."""

from __future__ import annotations

import numpy as np
import pytest

from engine.scoring import cost

NAN = float("nan")


def test_frontier_keeps_only_points_nothing_beats_on_both():
    costs = [1.0, 2.0, 3.0, 4.0, 2.5]
    values = [0.10, 0.30, 0.25, 0.50, 0.30]
    # 3.0/0.25 is beaten by 2.0/0.30; 2.5/0.30 by 2.0/0.30 (cheaper, as good)
    assert cost.pareto_frontier(costs, values) == [True, True, False, True, False]


def test_frontier_ties_on_both_axes_are_all_on_it():
    assert cost.pareto_frontier([1, 1, 2], [0.5, 0.5, 0.4]) == [True, True, False]
    # the same cost, a lower value: dominated
    assert cost.pareto_frontier([1, 1], [0.5, 0.4]) == [True, False]
    # the same value at a higher cost: dominated
    assert cost.pareto_frontier([1, 2], [0.5, 0.5]) == [True, False]


def test_frontier_ignores_missing_and_nan_points():
    costs = [1.0, NAN, 2.0, None, 0.5]
    values = [0.2, 0.9, 0.3, 0.9, NAN]
    # the NaN/None points are never on it and beat nobody (0.9 at an unknown cost does not hide 0.3)
    assert cost.pareto_frontier(costs, values) == [True, False, True, False, False]
    assert cost.pareto_frontier([], []) == []
    assert cost.pareto_frontier([NAN], [NAN]) == [False]


def test_frontier_direction_follows_the_metric():
    costs = [1.0, 2.0, 3.0]
    errors = [0.5, 0.3, 0.4]  # lower is better
    assert cost.pareto_frontier(costs, errors, higher_is_better=False) == [True, True, False]
    assert cost.pareto_frontier(costs, errors, higher_is_better=True) == [True, False, False]
    # an unknown direction counts as higher is better
    assert cost.pareto_frontier(costs, errors, higher_is_better=None) == [True, False, False]


def test_frontier_takes_numpy_values_and_checks_lengths():
    assert cost.pareto_frontier(np.array([2.0, 1.0]), np.array([np.float32(0.5), np.float32(0.1)])) == [True, True]
    with pytest.raises(ValueError, match="2 costs but 1 values"):
        cost.pareto_frontier([1, 2], [1])


def test_flops_factor_per_method():
    n = 1.5e9
    assert cost.flops_per_token("lora", n) == 4 * n
    assert cost.flops_per_token("qlora", n) == 4 * n
    assert cost.flops_per_token("fft", n) == 6 * n
    assert cost.flops_per_token("none", n) is None
    assert cost.flops_per_token("lora", None) is None


def test_mfu_formula_on_a_known_gpu():
    n, tps = 1.5e9, 10_000.0
    lora = cost.mfu("lora", n, tps, "cuda", "NVIDIA H200")
    assert lora == pytest.approx(4 * n * tps / 989e12)
    assert cost.mfu("fft", n, tps, "cuda", "NVIDIA H200") == pytest.approx(lora * 1.5)
    # tokens/s over 2 processes is measured against 2 devices' peak
    assert cost.mfu("lora", n, tps, "cuda", "NVIDIA H200", world_size=2) == pytest.approx(lora / 2)
    assert cost.mfu("lora", n, tps, "cuda", "NVIDIA A100-SXM4-80GB") == pytest.approx(4 * n * tps / 312e12)
    assert cost.mfu("lora", n, tps, "cuda", "mystery GPU", peak=100e12) == pytest.approx(4 * n * tps / 100e12)


def test_mfu_is_none_on_cpu_unknown_gpu_or_zero_shot():
    assert cost.mfu("lora", 1e9, 1000.0, "cpu", None) is None
    assert cost.mfu("lora", 1e9, 1000.0, "cpu", "NVIDIA H100 80GB HBM3") is None
    assert cost.mfu("lora", 1e9, 1000.0, "cuda", "mystery GPU") is None
    assert cost.mfu("none", 1e9, 1000.0, "cuda", "NVIDIA H100 80GB HBM3") is None
    assert cost.mfu("lora", 1e9, None, "cuda", "NVIDIA H100 80GB HBM3") is None


@pytest.mark.parametrize("name,peak", [
    ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12), ("NVIDIA H200", 989e12),
    ("NVIDIA A100-SXM4-40GB", 312e12), ("NVIDIA L4", 121e12), ("NVIDIA L40S", 362e12),
    ("NVIDIA A10", 125e12), ("NVIDIA GeForce RTX 4090", 165e12), ("NVIDIA A10G", None), ("", None),
])
def test_peak_flops_by_device_name(name, peak):
    assert cost.peak_flops(name) == peak


def test_steady_throughput_leaves_out_the_start_up_interval():
    assert cost.steady_tokens_per_s([10.0, 100.0, 110.0, 90.0]) == 100.0
    assert cost.steady_tokens_per_s([42.0]) == 42.0
    assert cost.steady_tokens_per_s([None, 0.0, NAN]) is None


def _events(method_total=1_000_000, trainable=10_000, device="cuda", name="NVIDIA H200"):
    return [
        {"type": "model_ready", "trainable": trainable, "total": method_total, "device": device, "device_name": name,
         "world_size": 1},
        {"type": "train_begin", "max_steps": 4},
        {"type": "train", "step": 1, "tokens_per_s": 5.0, "peak_mem_mb": 100.0},
        {"type": "train", "step": 2, "tokens_per_s": 200.0, "peak_mem_mb": 300.0},
        {"type": "train", "step": 3, "tokens_per_s": 220.0, "peak_mem_mb": 250.0},
        {"type": "trained", "t": 1.0, "seconds": 7200.0, "tokens_seen": 1000, "trainable": trainable,
         "total": method_total, "device": device, "device_name": name, "world_size": 1, "weights_bytes": 4096},
    ]


def test_run_cost_from_events():
    summary = cost.run_cost(_events(), "lora")
    assert summary.trainable_params == 10_000 and summary.total_params == 1_000_000
    assert summary.trainable_fraction == pytest.approx(0.01)
    assert summary.tokens_per_s == pytest.approx(210.0)  # median after the first interval
    assert summary.peak_mem_mb == 300.0 and summary.weights_bytes == 4096
    assert summary.gpu_hours == pytest.approx(2.0)
    assert summary.mfu == pytest.approx(4 * 1_000_000 * 210.0 / 989e12)
    on_cpu = cost.run_cost(_events(device="cpu", name=None), "lora")
    assert on_cpu.mfu is None and on_cpu.gpu_hours is None and on_cpu.tokens_per_s == pytest.approx(210.0)


def test_a_resumed_run_reports_its_last_attempts_throughput():
    events = [*_events()[:5], {"type": "train_begin"}, {"type": "train", "tokens_per_s": 50.0},
              {"type": "train", "tokens_per_s": 60.0}]
    assert cost.run_cost(events, "lora").tokens_per_s == 60.0


def test_zero_shot_costs_no_training():
    summary = cost.cost_from_facts("none", {})
    assert summary.train_seconds == 0.0 and summary.trainable_params == 0 and summary.gpu_hours == 0.0
    assert summary.tokens_per_s is None and summary.mfu is None


def test_without_step_records_the_average_throughput_is_used_and_distributed_processes_count():
    facts = {"seconds": 10.0, "tokens_seen": 1000, "total": 100, "device": "cuda", "device_name": "NVIDIA H200",
             "processes": 4}
    summary = cost.cost_from_facts("fft", cost.training_facts([{"type": "trained", **facts}]))
    assert summary.tokens_per_s == pytest.approx(100.0)
    assert summary.world_size == 4 and summary.gpu_hours == pytest.approx(40.0 / 3600)
    assert summary.mfu == pytest.approx(6 * 100 * 100.0 / (989e12 * 4))
