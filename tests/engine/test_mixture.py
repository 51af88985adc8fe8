"""Multi-task mixtures: proportions, temperature and explicit weights, caps, over/under-sampling,
determinism by seed; and a run's prepared data (decontamination, evaluation subsets)."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.data import mixture
from engine.data import prepare as data
from engine.spec import MixtureSpec, TaskEntry, parse_run_spec

AVAILABLE = {"a": 1000, "b": 100, "c": 10}


def _entries(**kw):
    return [TaskEntry(name=n, **kw.get(n, {})) for n in AVAILABLE]


def _targets(shares):
    return {s.task: s.target for s in shares}


def test_proportional_keeps_natural_sizes():
    shares = mixture.plan(AVAILABLE, _entries(), MixtureSpec())
    assert _targets(shares) == AVAILABLE
    assert all(s.repeats == 0 for s in shares)
    assert sum(s.weight for s in shares) == pytest.approx(1.0)


def test_temperature_flattens_towards_uniform():
    t1 = _targets(mixture.plan(AVAILABLE, _entries(), MixtureSpec(mode="temperature", temperature=1)))
    t5 = _targets(mixture.plan(AVAILABLE, _entries(), MixtureSpec(mode="temperature", temperature=5)))
    huge = _targets(mixture.plan(AVAILABLE, _entries(), MixtureSpec(mode="temperature", temperature=1e6)))
    assert t1 == AVAILABLE
    assert t5["c"] > t1["c"] and t5["a"] < t1["a"]
    assert sum(t5.values()) == sum(AVAILABLE.values())  # the total stays the natural total
    assert max(huge.values()) - min(huge.values()) <= 1  # T → ∞: uniform
    # p_i ∝ n_i^(1/T)
    shares = mixture.plan(AVAILABLE, _entries(), MixtureSpec(mode="temperature", temperature=2))
    raw = {k: v ** 0.5 for k, v in AVAILABLE.items()}
    for s in shares:
        assert s.weight == pytest.approx(raw[s.task] / sum(raw.values()))


def test_explicit_weights_with_total_oversample_and_caps():
    entries = [TaskEntry(name="a", weight=1), TaskEntry(name="b", weight=1), TaskEntry(name="c", weight=2, cap=25)]
    shares = {s.task: s for s in mixture.plan(AVAILABLE, entries, MixtureSpec(mode="explicit", total=100))}
    assert shares["a"].target == 25 and shares["b"].target == 25
    assert shares["c"].target == 25  # wanted 50, capped at 25
    assert shares["c"].eligible == 10 and shares["c"].unique == 10 and shares["c"].repeats == 15


def test_rounding_sums_to_total():
    shares = mixture.plan({"x": 3, "y": 3, "z": 3}, [TaskEntry(name=n) for n in "xyz"], MixtureSpec(total=10))
    assert sum(s.target for s in shares) == 10


def test_realise_is_deterministic_and_respects_counts():
    pools = {name: [f"{name}{i}" for i in range(n)] for name, n in AVAILABLE.items()}
    entries = [TaskEntry(name="a", weight=1), TaskEntry(name="b", weight=1), TaskEntry(name="c", weight=1)]
    shares = mixture.plan(AVAILABLE, entries, MixtureSpec(mode="explicit", total=300))
    first = mixture.realise(pools, shares, seed=42)
    assert first == mixture.realise(pools, shares, seed=42)
    assert first != mixture.realise(pools, shares, seed=43)
    counts = Counter(item[0] for item in first)
    assert counts == {"a": 100, "b": 100, "c": 100}
    c_items = Counter(item for item in first if item[0] == "c")
    assert set(c_items) == set(pools["c"])  # over-sampling takes whole passes first
    assert max(c_items.values()) - min(c_items.values()) <= 1
    assert len({i for i in first if i[0] == "a"}) == 100  # under-sampling: no repeats


def test_adding_a_task_does_not_change_another_tasks_draw():
    pools = {"a": list(range(50)), "b": list(range(100, 150))}
    one = mixture.realise(pools, mixture.plan({"a": 50}, [TaskEntry(name="a", cap=20)], MixtureSpec()), 7)
    two = mixture.realise(pools, mixture.plan({"a": 50, "b": 50},
                                              [TaskEntry(name="a", cap=20), TaskEntry(name="b")], MixtureSpec()), 7)
    assert sorted(one) == sorted(x for x in two if x < 100)


def test_prepare_decontaminates_and_fixes_eval_subsets(data_dir):
    spec = parse_run_spec({"model": "a/b", "tasks": [{"name": "trans-java-cs", "cap": 50}],
                           "eval": {"limit": 20}})
    prepared = data.prepare(spec, data_dir)
    assert prepared.decontaminated["trans-java-cs"] > 0
    test_inputs = {" ".join(e.input.split()) for e in
                   data.task_objects(spec)["trans-java-cs"].load("test", data.context_for(spec, data_dir,
                                                                                           "trans-java-cs"))}
    assert not test_inputs & {" ".join(e.input.split()) for e in prepared.train}
    assert len(prepared.train) == 50 and len(prepared.evaluation["trans-java-cs"]) == 20
    # the evaluation subset does not depend on the training seed (runs stay comparable)
    other_seed = parse_run_spec({**spec.model_dump(mode="json"), "train": {**spec.train.model_dump(), "seed": 7}})
    again = data.prepare(other_seed, data_dir)
    assert [e.id for e in again.evaluation["trans-java-cs"]] == [e.id for e in prepared.evaluation["trans-java-cs"]]
    assert [e.id for e in again.train] != [e.id for e in prepared.train]
    raw = parse_run_spec({**spec.model_dump(mode="json"),
                          "train": {**spec.train.model_dump(), "decontaminate": False}})
    assert data.prepare(raw, data_dir).decontaminated == {}


def test_zero_shot_runs_load_no_training_data(data_dir):
    spec = parse_run_spec({"model": "a/b", "method": "none", "tasks": ["gen-python", "sum-java"],
                           "eval": {"limit": 3}})
    prepared = data.prepare(spec, data_dir)
    assert prepared.train == [] and prepared.shares == []
    assert {k: len(v) for k, v in prepared.evaluation.items()} == {"gen-python": 3, "sum-java": 3}
