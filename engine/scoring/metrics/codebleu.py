"""CodeBLEU (codebleu 0.7.0 with the pinned tree-sitter grammars), reproducible and per pair.

What it computes: for each pair, exactly `codebleu.calc_codebleu([reference], [prediction], lang,
weights)["codebleu"]` (weights 0.25 each by default); for the corpus, exactly
`calc_codebleu(references, predictions, lang, weights)["codebleu"]`. The paper's tables are means of
the per-pair values (`mean` in the results); the corpus value pools counts and is not that mean.
Languages: java, c_sharp (alias csharp, cs, c#) and python.

Determinism: codebleu 0.7.0 builds its data-flow lists from Python sets of variable names, so its
values depend on PYTHONHASHSEED (up to 0.07 per pair; microsoft/CodeXGLUE#152). We therefore run
the package in helper processes started with PYTHONHASHSEED=0 (`_codebleu_worker.py`), whatever the
calling process's seed, and record the seed in the result's metadata. Values are those of the package
under PYTHONHASHSEED=0 on the same Python build (the string hash differs between Python versions).

Speed: each helper loads the parser and keyword list once and returns per-pair counts; per-pair and
corpus values both come from those counts, so a corpus costs one pass. Large inputs are split into
chunks scored in parallel helpers (`workers`, default min(CPUs, 4)).

Quirks kept from the package (values must equal it): a pair whose data-flow match is 0 (none of the
reference's data-flow edges found, or the reference has none) gets 1 for that component, so an empty
prediction scores 0.25; the same holds for a corpus with no matched data flow. The weighted n-gram
component's brevity penalty reads the reference length as 2 (the length of its [tokens, weights]
pair), so it practically never penalises short predictions.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from engine.scoring.metrics.base import CODE, Metric, MetricError, MetricOutput, MetricUnavailableError

HASH_SEED = "0"
DEFAULT_WEIGHTS = (0.25, 0.25, 0.25, 0.25)
COMPONENTS = ("ngram_match_score", "weighted_ngram_match_score", "syntax_match_score", "dataflow_match_score")
_LANGS = {"java": "java", "c_sharp": "c_sharp", "csharp": "c_sharp", "cs": "c_sharp", "c#": "c_sharp",
          "python": "python", "py": "python"}
_GRAMMARS = {"java": "tree-sitter-java", "c_sharp": "tree-sitter-c-sharp", "python": "tree-sitter-python"}
_WORKER = Path(__file__).with_name("_codebleu_worker.py")
_MIN_CHUNK = 100  # below this many pairs per helper, the process start-up outweighs the parallelism


def normalize_lang(lang: str | None) -> str:
    """codebleu's language name for `lang` (java, c_sharp, python); MetricError otherwise."""
    if lang is None:
        raise MetricError("codebleu needs lang= (one of java, c_sharp/csharp, python)")
    key = lang.strip().lower()
    if key not in _LANGS:
        raise MetricError(f"codebleu: unsupported lang {lang!r} (supported: java, c_sharp/csharp, python)")
    return _LANGS[key]


def _check_weights(weights: Sequence[float]) -> tuple[float, float, float, float]:
    values = tuple(float(w) for w in weights)
    if len(values) != 4:
        raise MetricError(f"codebleu weights must be 4 numbers (n-gram, weighted n-gram, syntax, "
                          f"data flow), got {len(values)}")
    return values  # type: ignore[return-value]


def _run_helper(lang: str, predictions: list[str], references: list[str]) -> list[dict[str, list]]:
    env = dict(os.environ, PYTHONHASHSEED=HASH_SEED)
    job = json.dumps({"lang": lang, "predictions": predictions, "references": references})
    # -P: do not put the metrics folder on sys.path (our codebleu.py would shadow the package).
    proc = subprocess.run([sys.executable, "-P", str(_WORKER)], input=job, capture_output=True, text=True,
                          env=env, timeout=120 + 2 * len(predictions), check=False)
    if proc.returncode != 0:
        tail = proc.stderr.strip()[-2000:]
        if "ModuleNotFoundError" in tail or "ImportError" in tail:
            raise MetricUnavailableError(
                f"CodeBLEU needs codebleu==0.7.0, tree-sitter==0.22.3 and the grammar {_GRAMMARS[lang]} "
                f"(see pyproject.toml; `make setup`): {tail.splitlines()[-1]}")
        raise RuntimeError(f"CodeBLEU helper process failed (exit {proc.returncode}): {tail}")
    out = json.loads(proc.stdout)
    if out["hash_randomization"] != 0 or out["pythonhashseed"] != HASH_SEED:
        raise RuntimeError(f"CodeBLEU helper did not run with PYTHONHASHSEED={HASH_SEED}: {out}")
    return out["stats"]


def pair_statistics(predictions: Sequence[str], references: Sequence[str], lang: str,
                    workers: int | None = None) -> list[dict[str, list]]:
    """Per-pair counts of the four components, computed in PYTHONHASHSEED=0 helpers, in input order."""
    lang = normalize_lang(lang)
    preds, refs = list(predictions), list(references)
    if not preds:
        return []
    workers = max(1, workers if workers is not None else min(os.cpu_count() or 1, 4))
    n_chunks = max(1, min(workers, len(preds) // _MIN_CHUNK))
    size = math.ceil(len(preds) / n_chunks)
    bounds = [(i, min(i + size, len(preds))) for i in range(0, len(preds), size)]
    if len(bounds) == 1:
        return _run_helper(lang, preds, refs)
    with ThreadPoolExecutor(max_workers=len(bounds)) as pool:
        parts = pool.map(lambda b: _run_helper(lang, preds[b[0]:b[1]], refs[b[0]:b[1]]), bounds)
        return [stat for part in parts for stat in part]


def _pooled_bleu(module: Any, stats: Sequence[dict[str, list]], key: str) -> float:
    # The tail of codebleu's corpus_bleu (bleu.py / weighted_ngram_match.py), over pooled counts,
    # summed in input order from 0 like the package's Counters, so the floats come out identical.
    numerators, denominators = [0] * 4, [0] * 4
    hyp_length = ref_length = 0
    for stat in stats:
        nums, dens, hyp_len, ref_len = stat[key]
        for i in range(4):
            numerators[i] += nums[i]
            denominators[i] += dens[i]
        hyp_length += hyp_len
        ref_length += ref_len
    brevity = module.brevity_penalty(ref_length, hyp_length)
    if numerators[0] == 0:
        return 0
    p_n = module.SmoothingFunction().method1(list(zip(numerators, denominators, strict=True)))
    logs = (w * math.log(p[0] / p[1]) for w, p in zip(DEFAULT_WEIGHTS, p_n, strict=True))
    return brevity * math.exp(math.fsum(logs))


def combine(stats: Sequence[dict[str, list]], weights: Sequence[float] = DEFAULT_WEIGHTS) -> dict[str, float]:
    """CodeBLEU and its components over the pairs in `stats`, as calc_codebleu returns them."""
    from codebleu import bleu, weighted_ngram_match

    alpha, beta, gamma, theta = _check_weights(weights)
    ngram = _pooled_bleu(bleu, stats, "ngram")
    weighted = _pooled_bleu(weighted_ngram_match, stats, "weighted")
    syntax_total = sum(s["syntax"][1] for s in stats)
    syntax = sum(s["syntax"][0] for s in stats) / syntax_total if syntax_total else 0
    dataflow_total = sum(s["dataflow"][1] for s in stats)
    dataflow = sum(s["dataflow"][0] for s in stats) / dataflow_total if dataflow_total else 0
    # `or 1`: the package's rule, a zero data-flow match counts as a full one.
    score = alpha * ngram + beta * weighted + gamma * syntax + theta * (dataflow or 1)
    return {"codebleu": score, "ngram_match_score": ngram, "weighted_ngram_match_score": weighted,
            "syntax_match_score": syntax, "dataflow_match_score": dataflow}


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in ("codebleu", "tree-sitter", *_GRAMMARS.values()):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = "missing"
    return found


def evaluate(predictions: list[str], references: list[str], lang: str | None = None,
             weights: Sequence[float] = DEFAULT_WEIGHTS, workers: int | None = None) -> MetricOutput:
    """Per-pair CodeBLEU, corpus CodeBLEU, and metadata (seed, versions, per-pair components)."""
    lang = normalize_lang(lang)
    weights = _check_weights(weights)
    stats = pair_statistics(predictions, references, lang, workers=workers)
    per_pair = [combine([s], weights) for s in stats]
    corpus_scores = combine(stats, weights) if stats else dict.fromkeys(("codebleu", *COMPONENTS), 0.0)
    meta = {
        "library": "codebleu 0.7.0 (calc_codebleu per pair; pooled for the corpus)",
        "versions": _versions(),
        "lang": lang,
        "weights": list(weights),
        "pythonhashseed": int(HASH_SEED),
        "python": sys.version.split()[0],
        "corpus": "calc_codebleu over all pairs (pooled counts; not the mean of per-pair values)",
        "corpus_components": {k: float(corpus_scores[k]) for k in COMPONENTS},
        "per_sample_components": {k: [float(p[k]) for p in per_pair] for k in COMPONENTS},
    }
    return MetricOutput(per_sample=[float(p["codebleu"]) for p in per_pair],
                        corpus=float(corpus_scores["codebleu"]), meta=meta)


def score_pairs(predictions: list[str], references: list[str], lang: str | None = None,
                weights: Sequence[float] = DEFAULT_WEIGHTS, workers: int | None = None) -> list[float]:
    """Per-pair CodeBLEU in [0, 1]: calc_codebleu([ref], [pred], lang) under PYTHONHASHSEED=0."""
    return evaluate(predictions, references, lang=lang, weights=weights, workers=workers).per_sample


def corpus(predictions: list[str], references: list[str], lang: str | None = None,
           weights: Sequence[float] = DEFAULT_WEIGHTS, workers: int | None = None) -> float:
    """Corpus CodeBLEU in [0, 1]: calc_codebleu(references, predictions, lang) under PYTHONHASHSEED=0."""
    return evaluate(predictions, references, lang=lang, weights=weights, workers=workers).corpus


METRICS = (
    Metric(
        name="codebleu",
        applies_to=frozenset({CODE}),
        description="CodeBLEU (codebleu 0.7.0; n-gram, weighted n-gram, AST, data-flow; 0.25 each)",
        score_fn=score_pairs,
        corpus_fn=corpus,
        evaluate_fn=evaluate,
        options=("lang", "weights", "workers"),
    ),
)
