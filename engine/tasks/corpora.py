"""Readers for corpora shared by several tasks: the CodeXGLUE code-to-text sample.

The sample lies in several folders with repeated rows; rows are de-duplicated by url and split
by repository with a fixed hash, so no repository is in two splits and every task that reads
the corpus uses the same split (no test repository leaks into any task's training set):

    bucket(repo) < 0.10  → test   (held out from every task's training)
    bucket(repo) < 0.20  → valid
    otherwise            → train
"""

from __future__ import annotations

from typing import Any

from engine.tasks.base import DataContext, DataError, Split, read_jsonl, stable_bucket

TEST_SHARE = 0.10
VALID_SHARE = 0.10
REQUIRED = ("repo", "code", "docstring", "url", "language")


def repo_split(repo: str) -> Split:
    """The split of a repository: test, valid or train by a fixed hash of its name."""
    bucket = stable_bucket(repo, salt="code2text-repo")
    if bucket < TEST_SHARE:
        return "test"
    if bucket < TEST_SHARE + VALID_SHARE:
        return "valid"
    return "train"


def code2text_rows(ctx: DataContext, language: str, split: Split) -> list[dict[str, Any]]:
    """Unique code-to-text rows of `language` ('python' | 'java') in `split`, in a stable order."""
    root = ctx.path("codexglue_code2text", what="CodeXGLUE code-to-text sample")
    files = sorted(root.glob("*/test.jsonl"))
    if not files:
        raise DataError(f"no */test.jsonl files under {root}",
                        fix="put the code-to-text sample folders (Java/, Python/, ...) there as published")
    rows: dict[str, dict[str, Any]] = {}
    for path in files:
        for _, rec in read_jsonl(path, required=REQUIRED):
            if rec["language"] != language or rec["url"] in rows:
                continue
            if repo_split(rec["repo"]) != split:
                continue
            rows[rec["url"]] = {
                "id": (rec.get("func_name") and f"{rec['repo']}:{rec['func_name']}") or rec["url"],
                "url": rec["url"],
                "repo": rec["repo"],
                "code": rec["code"],
                "docstring": rec["docstring"],
            }
    ordered = sorted(rows.values(), key=lambda r: r["url"])
    # func names can repeat (overloads): make ids unique deterministically
    seen: dict[str, int] = {}
    for row in ordered:
        count = seen.get(row["id"], 0)
        seen[row["id"]] = count + 1
        if count:
            row["id"] = f"{row['id']}#{count}"
    return ordered
