"""What the data directory holds: per task, the number of examples in each split, and a preview.

Used by `codetune data` and the dashboard's Data page (through engine.api). Loading is plain file
reading (no model, no tokenizer); a task whose files are missing or malformed is reported with
the loader's error instead of a count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.tasks.base import SPLITS, DataContext, DataError
from engine.tasks.registry import builtin_tasks, get_task


def summarise(data_dir: Path) -> list[dict[str, Any]]:
    """One row per built-in task: counts per split, the evaluation set, or the problem found."""
    rows = []
    for task in builtin_tasks():
        ctx = DataContext(data_dir=data_dir, counting=True)
        row: dict[str, Any] = {"task": task.name, "family": task.family, "language": task.language,
                               "eval_set": task.eval_set(ctx), "problem": ""}
        for split in SPLITS:
            try:
                row[split] = len(task.load(split, ctx))
            except (DataError, OSError) as exc:
                row[split] = None
                row["problem"] = row["problem"] or str(exc)
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
