"""What the data directory holds: per task, the number of examples in each split, and a preview; and
the facts about a task's splits that the data preflight checks (engine.data.preflight).

Used by `codetune data` and the dashboard's Data page (through engine.api). Loading is plain file
reading (no model, no tokenizer); a task whose files are missing or malformed is reported with
the loader's error instead of a count.

`split_stats` describes loaded examples (count, prompt lengths, repeated ids, empty targets);
`builtin_splits` loads a built-in task's splits and describes them, cached in the process while no
file under the data directory changes (the Launch page validates often). Training and validation
splits are loaded in counting mode (no costly input rewriting: their prompt lengths are upper
bounds); the test split as a run loads it, since its prompts are checked against the model's context.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.data.tokens import LONG_BYTES
from engine.tasks.base import SPLITS, DataContext, DataError, Example
from engine.tasks.registry import builtin_tasks, get_task
from engine.tasks.task import Task

MAX_FINGERPRINT_FILES = 20_000
FINGERPRINT_TTL_S = 1.0
_FINGERPRINTS: dict[str, tuple[float, tuple[Any, ...] | None]] = {}
_CACHE: dict[Hashable, dict[str, SplitStats | DataError]] = {}
_LOCK = threading.Lock()


@dataclass(eq=False)
class SplitStats:
    """Facts about one split's examples, in load order."""

    count: int
    ids: tuple[str, ...]
    prompt_chars: tuple[int, ...]  # characters of the system and user turns
    long_prompts: dict[int, str]  # index → prompt text, for prompts over LONG_BYTES bytes
    duplicate_ids: dict[str, int]  # repeated id → occurrences
    empty_targets: tuple[str, ...]  # ids of examples whose target is empty
    tokens: dict[str, list[int]] = field(default_factory=dict)  # tokenizer (or 'estimate') → tokens per prompt


def prompt_text(task: Task, example: Example) -> str:
    """The text of the prompt the model sees for `example` (its system and user turns)."""
    return "\n".join(message["content"] for message in task.messages(example))


def split_stats(task: Task, examples: Sequence[Example]) -> SplitStats:
    """Count, prompt lengths, repeated ids and empty targets of a split's examples."""
    chars, long_prompts = [], {}
    for index, example in enumerate(examples):
        text = prompt_text(task, example)
        chars.append(len(text))
        if len(text) * 4 > LONG_BYTES and len(text.encode("utf-8")) > LONG_BYTES:
            long_prompts[index] = text
    counts = Counter(ex.id for ex in examples)
    return SplitStats(
        count=len(examples), ids=tuple(ex.id for ex in examples), prompt_chars=tuple(chars),
        long_prompts=long_prompts, duplicate_ids={k: n for k, n in counts.items() if n > 1},
        empty_targets=tuple(ex.id for ex in examples if not ex.target.strip()),
    )


def _data_fingerprint(data_dir: Path) -> tuple[Any, ...] | None:
    """(path, size, mtime) of every file under the data directory; None (do not cache) for a folder too
    big to look at on every call, or one that cannot be read. Reused for a second (a study's runs)."""
    now = time.monotonic()
    with _LOCK:
        recent = _FINGERPRINTS.get(str(data_dir))
    if recent and now - recent[0] < FINGERPRINT_TTL_S:
        return recent[1]
    out: list[tuple[str, int, int]] | None = []
    try:
        for folder, _, names in os.walk(data_dir):
            for name in names:
                stat = os.stat(os.path.join(folder, name))
                out.append((os.path.join(folder, name), stat.st_size, stat.st_mtime_ns))
            if len(out) > MAX_FINGERPRINT_FILES:
                out = None
                break
    except OSError:
        out = None
    fingerprint = tuple(sorted(out)) if out is not None else None
    with _LOCK:
        _FINGERPRINTS[str(data_dir)] = (now, fingerprint)
    return fingerprint


def builtin_splits(task: Task, ctx: DataContext) -> dict[str, SplitStats | DataError]:
    """Each split's facts, or the loader's error, for a built-in task (cached while the data is unchanged)."""
    fingerprint = _data_fingerprint(ctx.data_dir) if ctx.data_dir.is_dir() else None
    key = (task.name, str(ctx.data_dir), tuple(sorted(ctx.options.items())), ctx.keep_docstrings, fingerprint)
    with _LOCK:
        if fingerprint is not None and key in _CACHE:
            return _CACHE[key]
    out: dict[str, SplitStats | DataError] = {}
    for split in SPLITS:
        try:
            examples = task.load(split, replace(ctx, counting=split != "test"))
        except DataError as exc:
            out[split] = exc
            continue
        except OSError as exc:
            out[split] = DataError(str(exc), fix="check the data directory's files and permissions")
            continue
        out[split] = split_stats(task, examples)
    if fingerprint is not None:
        with _LOCK:
            if len(_CACHE) > 64:
                _CACHE.clear()
            _CACHE[key] = out
    return out


def summarise(data_dir: Path) -> list[dict[str, Any]]:
    """One row per built-in task: counts per split, the evaluation set, or the problem found."""
    rows = []
    for task in builtin_tasks():
        ctx = DataContext(data_dir=data_dir, counting=True)
        row: dict[str, Any] = {"task": task.name, "family": task.family, "language": task.language,
                               "eval_set": task.eval_set(ctx), "problem": ""}
        for split, stats in builtin_splits(task, ctx).items():
            if isinstance(stats, DataError):
                row[split] = None
                row["problem"] = row["problem"] or str(stats)
            else:
                row[split] = stats.count
        rows.append(row)
    return rows


def preview(data_dir: Path, task_name: str, split: str = "test", limit: int = 5,
            options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The first examples of a split, with the prompt messages the model would see."""
    task = get_task(task_name)
    examples = task.load(split, DataContext(data_dir=data_dir, options=options or {}))  # type: ignore[arg-type]
    out = []
    for ex in examples[:limit]:
        messages = task.messages(ex)
        out.append({"id": ex.id, "system": messages[0]["content"], "user": messages[-1]["content"],
                    "target": task.target(ex)})
    return out
