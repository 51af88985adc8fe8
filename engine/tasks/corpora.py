"""Readers for corpora shared by several tasks: CodeXGLUE code-to-text, as the public sample or, once
fetched (`codetune data fetch codexglue`, engine.data.fetch), as the full sets.

The full sets (codexglue_code2text_full/<language>/{train,valid,test}.jsonl, the hub's splits in the
CodeXGLUE schema) are used split by split wherever present: the reference study trained on them.

Otherwise the public sample: it lies in several folders with repeated rows; rows are de-duplicated
by url and split by repository with a fixed hash, so no repository is in two splits and every task
that reads the corpus uses the same split (no test repository leaks into any task's training set):

    bucket(repo) < 0.10  → test   (held out from every task's training)
    bucket(repo) < 0.20  → valid
    otherwise            → train

Every sample row comes from CodeXGLUE's test partition, so a full training set next to the sample's
test split shares no rows with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.tasks.base import DataContext, DataError, Split, read_jsonl, stable_bucket

TEST_SHARE = 0.10
VALID_SHARE = 0.10
REQUIRED = ("repo", "code", "docstring", "url", "language")
SAMPLE_DIR = "codexglue_code2text"
FULL_DIR = "codexglue_code2text_full"


def repo_split(repo: str) -> Split:
    """The split of a repository: test, valid or train by a fixed hash of its name."""
    bucket = stable_bucket(repo, salt="code2text-repo")
    if bucket < TEST_SHARE:
        return "test"
    if bucket < TEST_SHARE + VALID_SHARE:
        return "valid"
    return "train"


def full_path(data_dir: Path, language: str, split: Split) -> Path:
    """Where the full set of `language`'s `split` lies once fetched."""
    return data_dir / FULL_DIR / language / f"{split}.jsonl"


def source(data_dir: Path, language: str, split: Split) -> str:
    """'full' when the full CodeXGLUE set of this split is in the data directory, else 'sample'."""
    return "full" if full_path(data_dir, language, split).is_file() else "sample"


def _row(rec: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": (rec.get("func_name") and f"{rec['repo']}:{rec['func_name']}") or rec["url"],
        "url": rec["url"],
        "repo": rec["repo"],
        "code": rec["code"],
        "docstring": rec["docstring"],
        "code_tokens": list(rec.get("code_tokens") or []),
        "docstring_tokens": list(rec.get("docstring_tokens") or []),
    }


def code2text_rows(ctx: DataContext, language: str, split: Split) -> list[dict[str, Any]]:
    """Unique code-to-text rows of `language` ('python' | 'java') in `split`, in a stable order: the
    full set's rows in file order when fetched, else the public sample's rows of the split's
    repositories, by url."""
    rows: dict[str, dict[str, Any]] = {}
    full = full_path(ctx.data_dir, language, split)
    if full.is_file():
        for _, rec in read_jsonl(full, required=REQUIRED):
            rows.setdefault(rec["url"], _row(rec))
        ordered = list(rows.values())
    else:
        root = ctx.path(SAMPLE_DIR, what="CodeXGLUE code-to-text sample")
        files = sorted(root.glob("*/test.jsonl"))
        if not files:
            raise DataError(f"no */test.jsonl files under {root}",
                            fix="put the code-to-text sample folders (Java/, Python/, ...) there as published")
        for path in files:
            for _, rec in read_jsonl(path, required=REQUIRED):
                if rec["language"] != language or rec["url"] in rows:
                    continue
                if repo_split(rec["repo"]) != split:
                    continue
                rows[rec["url"]] = _row(rec)
        ordered = sorted(rows.values(), key=lambda r: r["url"])
    # func names can repeat (overloads): make ids unique deterministically
    seen: dict[str, int] = {}
    for row in ordered:
        count = seen.get(row["id"], 0)
        seen[row["id"]] = count + 1
        if count:
            row["id"] = f"{row['id']}#{count}"
    return ordered
