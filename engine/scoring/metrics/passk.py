"""pass@k: the unbiased estimator of Chen et al. (2021), the one implementation the project uses.

For a problem with n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance that at
least one of k samples drawn without replacement passes. Computed in the numerically stable
product form 1 - prod_{i=n-c+1}^{n} (1 - k/i) (no huge binomials). A benchmark's pass@k is the mean
over its problems (`mean_pass_at_k`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def _check_int(name: str, value: object) -> int:
    # bool is an int subclass; True as a sample count is almost certainly a bug upstream.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"pass@k: {name} must be an int, got {type(value).__name__} {value!r}")
    return value


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with n samples, c of them correct (0 <= c <= n, 1 <= k <= n)."""
    n, c, k = _check_int("n", n), _check_int("c", c), _check_int("k", k)
    if n < 1:
        raise ValueError(f"pass@k: n (samples) must be >= 1, got n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k: c (correct samples) must satisfy 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@k: k must satisfy 1 <= k <= n, got k={k}, n={n} "
                         f"(generate at least k samples per problem)")
    if n - c < k:  # every draw of k samples contains a correct one
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(results: Iterable[tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems given as (n, c) pairs (samples, correct samples) per problem."""
    values = [pass_at_k(n, c, k) for n, c in results]
    if not values:
        raise ValueError("pass@k: no problems to average")
    return math.fsum(values) / len(values)
