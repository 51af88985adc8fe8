"""Teacher-forced generation metrics for early stopping, as the reference package computed them:
the argmax token at each position of a validation row, given the true tokens before it, decoded and
scored against the row's own completion.

- summary rows (the reference holds "SUMMARY:"): sacrebleu sentence BLEU (0-100) of the text between
  "SUMMARY:" and "DONE";
- code rows: CodeBLEU x 100, in the language the package guessed from the reference text
  ("public"/"private" → java, "def "/"import " → python, "namespace"/"using System" → c_sharp, else
  java);
- `combined`: the mean over all rows of those per-row values (the package's eval_combined_score).

Only the argmax ids leave the evaluation loop (`preprocess_logits`, per batch): the logits of the
whole validation set are never kept. Unlike the package, which scored whole packed sequences, each
row is one example, unpacked, and only its completion tokens are scored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

METRICS = ("codebleu", "bleu", "combined")


def guess_language(reference: str) -> str:
    """The CodeBLEU language the package guessed from a reference text."""
    if "public" in reference or "private" in reference:
        return "java"
    if "def " in reference or "import " in reference:
        return "python"
    if "namespace" in reference or "using System" in reference:
        return "c_sharp"
    return "java"


def _summary(text: str) -> str:
    return text.split("SUMMARY:")[-1].split("DONE")[0].strip() if "SUMMARY:" in text else text


def score_rows(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """The package's validation scores of decoded completions: codebleu (mean over code rows), bleu
    (over summary rows) and combined (over all rows), each on 0-100; a group without rows is left out."""
    from engine.scoring.metrics import bleu, codebleu

    values: list[float] = [0.0] * len(references)
    summary_rows = [i for i, ref in enumerate(references) if "SUMMARY:" in ref]
    code_rows: dict[str, list[int]] = defaultdict(list)
    for i, ref in enumerate(references):
        if "SUMMARY:" not in ref:
            code_rows[guess_language(ref)].append(i)
    if summary_rows:
        scores = bleu.score_pairs([_summary(predictions[i]) for i in summary_rows],
                                  [_summary(references[i]) for i in summary_rows])
        for i, value in zip(summary_rows, scores, strict=True):
            values[i] = 100.0 * value
    for lang, rows in code_rows.items():
        scores = codebleu.score_pairs([predictions[i] for i in rows], [references[i] for i in rows], lang=lang)
        for i, value in zip(rows, scores, strict=True):
            values[i] = 100.0 * value
    out: dict[str, float] = {}
    code = [values[i] for rows in code_rows.values() for i in rows]
    if code:
        out["codebleu"] = float(np.mean(code))
    if summary_rows:
        out["bleu"] = float(np.mean([values[i] for i in summary_rows]))
    if values:
        out["combined"] = float(np.mean(values))
    return out


@dataclass
class TeacherForced:
    """compute_metrics + preprocess_logits_for_metrics for a transformers Trainer.

    rows: per validation row (in the evaluation dataloader's order), its token ids and the positions
    of its completion tokens. required: the metric early stopping reads (set to 0.0 when no row of its
    kind was drawn, so the trainer always finds it)."""

    tokenizer: Any
    rows: list[tuple[list[int], list[int]]]
    required: str = "combined"

    @staticmethod
    def preprocess_logits(logits: Any, labels: Any) -> Any:
        """Per evaluation batch: the argmax token ids, not the logits."""
        del labels
        if isinstance(logits, tuple):
            logits = logits[0]
        return logits.argmax(dim=-1)

    def decoded(self, predictions: np.ndarray) -> tuple[list[str], list[str]]:
        """The predicted and reference completions of every row, as text."""
        preds, refs = [], []
        for i, (ids, positions) in enumerate(self.rows):
            row = predictions[i]
            usable = [p for p in positions if 1 <= p < len(ids) and p - 1 < len(row)]
            refs.append(self.tokenizer.decode([ids[p] for p in usable], skip_special_tokens=True).strip())
            guessed = [int(row[p - 1]) for p in usable if int(row[p - 1]) >= 0]
            preds.append(self.tokenizer.decode(guessed, skip_special_tokens=True).strip())
        return preds, refs

    def __call__(self, eval_pred: Any) -> dict[str, float]:
        predictions = eval_pred.predictions
        if isinstance(predictions, (list, tuple)):
            predictions = predictions[0]
        preds, refs = self.decoded(np.asarray(predictions))
        scores = score_rows(preds, refs)
        scores.setdefault(self.required, 0.0)
        return scores


def completion_positions(example: dict[str, Any]) -> list[int]:
    """The positions of a prepared (tokenised) row's completion tokens: its completion mask, else the
    positions whose label is not -100."""
    ids = example["input_ids"]
    mask = example.get("completion_mask")
    if mask is not None:
        return [i for i, bit in enumerate(mask[: len(ids)]) if bit]
    labels = example.get("labels") or []
    return [i for i, label in enumerate(labels[: len(ids)]) if label != -100]
