"""Multi-task mixtures: how many training examples each task contributes, and which ones.

Modes (p_i is task i's share of the total):
    proportional   p_i ∝ n_i           (natural proportions, the paper's setting)
    temperature    p_i ∝ n_i^(1/T)     (T > 1 flattens towards uniform)
    explicit       p_i ∝ w_i           (the spec's weights)
n_i is the task's available training examples after its cap. The total defaults to Σ n_i.
A task asked for more than it has is over-sampled (whole passes, then a random remainder); for
fewer, under-sampled (a random subset). Everything is deterministic given the seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from engine.spec import MixtureSpec, TaskEntry

T = TypeVar("T")


@dataclass(frozen=True)
class TaskShare:
    """The realised share of one task in a mixture."""

    task: str
    available: int  # examples in the task's training split
    eligible: int  # after the task's cap
    weight: float  # the normalised probability p_i
    target: int  # examples drawn into the mixture
    unique: int  # distinct examples among them
    repeats: int  # target - unique (over-sampling)

    def to_dict(self) -> dict[str, Any]:
        """The share as a plain dict."""
        return asdict(self)


def plan(available: Mapping[str, int], entries: Sequence[TaskEntry], mixture: MixtureSpec) -> list[TaskShare]:
    """Target counts per task (largest-remainder rounding so they sum to the total exactly)."""
    names = [e.name for e in entries]
    eligible = {e.name: min(available[e.name], e.cap) if e.cap else available[e.name] for e in entries}
    if mixture.mode == "explicit":
        raw = {e.name: float(e.weight or 0.0) for e in entries}
    elif mixture.mode == "temperature":
        raw = {n: eligible[n] ** (1.0 / mixture.temperature) for n in names}
    else:
        raw = {n: float(eligible[n]) for n in names}
    norm = sum(raw.values())
    weights = {n: (raw[n] / norm if norm > 0 else 0.0) for n in names}
    total = mixture.total if mixture.total is not None else sum(eligible.values())
    exact = {n: weights[n] * total for n in names}
    counts = {n: math.floor(exact[n]) for n in names}
    leftover = total - sum(counts.values())
    for n in sorted(names, key=lambda k: (exact[k] - counts[k], k), reverse=True)[:leftover]:
        counts[n] += 1
    shares = []
    for e in entries:
        n = e.name
        target = counts[n] if eligible[n] > 0 else 0
        if e.cap:
            target = min(target, e.cap)
        unique = min(target, eligible[n])
        shares.append(TaskShare(n, available[n], eligible[n], weights[n], target, unique, target - unique))
    return shares


def draw(items: Sequence[T], count: int, rng: random.Random) -> list[T]:
    """`count` items: a random subset, or whole shuffled passes plus a random remainder."""
    if count <= 0 or not items:
        return []
    out: list[T] = []
    while count - len(out) >= len(items):
        block = list(items)
        rng.shuffle(block)
        out.extend(block)
    out.extend(rng.sample(list(items), count - len(out)))
    return out


def realise(pools: Mapping[str, Sequence[T]], shares: Sequence[TaskShare], seed: int) -> list[T]:
    """The mixed, shuffled training list. Each task draws from its own seeded stream, so adding
    a task does not change which examples another task contributes."""
    mixed: list[T] = []
    for share in shares:
        pool = pools[share.task]
        if share.eligible < len(pool):  # the cap: a fixed, seeded subset of the task's pool
            pool = random.Random(f"{seed}:cap:{share.task}").sample(list(pool), share.eligible)
        mixed.extend(draw(pool, share.target, random.Random(f"{seed}:draw:{share.task}")))
    random.Random(f"{seed}:shuffle").shuffle(mixed)
    return mixed
