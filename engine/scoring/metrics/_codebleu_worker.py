"""Helper process for CodeBLEU: per-pair sufficient statistics from the codebleu 0.7.0 package.

Run only by `engine.scoring.metrics.codebleu`, as `python -P _codebleu_worker.py` with
PYTHONHASHSEED=0 (codebleu's data-flow match iterates Python sets of variable names, so its values
depend on the hash seed; a fixed seed in this process makes them reproducible). Reads one JSON job
{"lang", "predictions", "references"} on stdin and writes {"stats": [...], "hash_randomization",
"pythonhashseed"} on stdout. Imports only the standard library and codebleu (never `engine`).

For every pair it does what `codebleu.calc_codebleu([ref], [pred], lang)` does, with the package's own
functions (n-gram precision, weighted recall, comment stripping, data-flow extraction and
normalisation), but keeps the counts instead of the ratios, so the parent can compute per-pair values
and the pooled corpus value from one pass. The parser and the keyword list are loaded once.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

_ORDERS = (1, 2, 3, 4)


def _strip_comments(code: str, lang: str) -> str:
    from codebleu.parser import remove_comments_and_docstrings

    # As codebleu does: code that its comment stripper cannot tokenise is used unchanged.
    try:
        return remove_comments_and_docstrings(code, lang)
    except Exception:  # pylint: disable=broad-exception-caught
        return code


def _subtree_sexps(root: Any) -> list[str]:
    # codebleu.syntax_match's get_all_sub_trees: every node that has children, as an s-expression.
    stack, sexps = [root], []
    while stack:
        node = stack.pop()
        sexps.append(str(node))
        stack.extend(child for child in node.children if child.children)
    return sexps


def pair_stats(lang: str, predictions: list[str], references: list[str]) -> list[dict[str, list]]:
    """Counts behind the four CodeBLEU components for each (prediction, reference) pair."""
    from codebleu import bleu, weighted_ngram_match
    from codebleu.codebleu import PACKAGE_DIR
    from codebleu.dataflow_match import dfg_function, get_data_flow, normalize_dataflow
    from codebleu.utils import get_tree_sitter_language
    from tree_sitter import Parser

    parser = Parser()
    parser.language = get_tree_sitter_language(lang)
    dfg_parser = [parser, dfg_function[lang]]
    with open(PACKAGE_DIR / "keywords" / f"{lang}.txt", encoding="utf-8") as fh:
        keywords = {line.strip() for line in fh}

    out = []
    for prediction, reference in zip(predictions, references, strict=True):
        hyp, ref = prediction.strip(), reference.strip()
        hyp_tokens, ref_tokens = hyp.split(), ref.split()

        # n-gram match: codebleu.bleu.corpus_bleu's per-pair terms.
        ngram = [bleu.modified_precision([ref_tokens], hyp_tokens, n) for n in _ORDERS]
        # weighted n-gram match: keywords weigh 1, other tokens 0.2 (calc_codebleu's make_weights).
        ref_weighted = [[ref_tokens, {tok: 1 if tok in keywords else 0.2 for tok in ref_tokens}]]
        weighted = [weighted_ngram_match.modified_recall(ref_weighted, hyp_tokens, n) for n in _ORDERS]

        hyp_code, ref_code = _strip_comments(hyp, lang), _strip_comments(ref, lang)

        # syntax match: reference subtrees found among the candidate's subtrees.
        cand_sexps = set(_subtree_sexps(parser.parse(bytes(hyp_code, "utf8")).root_node))
        ref_sexps = _subtree_sexps(parser.parse(bytes(ref_code, "utf8")).root_node)
        syntax_match = sum(1 for sexp in ref_sexps if sexp in cand_sexps)

        # data-flow match: normalised reference data-flow edges consumed from the candidate's.
        cand_dfg = normalize_dataflow(get_data_flow(hyp_code, dfg_parser))
        ref_dfg = normalize_dataflow(get_data_flow(ref_code, dfg_parser))
        dataflow_match = 0
        for edge in ref_dfg:
            if edge in cand_dfg:
                dataflow_match += 1
                cand_dfg.remove(edge)

        out.append({
            "ngram": [[int(p[0]) for p in ngram], [int(p[1]) for p in ngram], len(hyp_tokens),
                      bleu.closest_ref_length([ref_tokens], len(hyp_tokens))],
            "weighted": [[w[0] for w in weighted], [w[1] for w in weighted], len(hyp_tokens),
                         # As in the package: its "references" here are [tokens, weights] pairs, so
                         # the closest length is that of the pair (2), not of the reference.
                         weighted_ngram_match.closest_ref_length(ref_weighted, len(hyp_tokens))],
            "syntax": [syntax_match, len(ref_sexps)],
            "dataflow": [dataflow_match, len(ref_dfg)],
        })
    return out


def main() -> None:
    """Read a job on stdin, write the statistics on stdout."""
    job = json.load(sys.stdin)
    stats = pair_stats(job["lang"], job["predictions"], job["references"])
    json.dump({"stats": stats, "hash_randomization": sys.flags.hash_randomization,
               "pythonhashseed": os.environ.get("PYTHONHASHSEED")}, sys.stdout)


if __name__ == "__main__":
    main()
