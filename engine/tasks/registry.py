"""The task registry: built-in task variants by name, plus custom tasks declared in a spec.

A new task family is one module defining `TASKS = (...)` plus one entry in `_MODULES` below.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from engine.tasks import generation, summarization, translation
from engine.tasks.base import Task

_MODULES = (generation, translation, summarization)
FAMILIES = ("generation", "translation", "summarization")


@lru_cache(maxsize=1)
def _builtin() -> dict[str, Task]:
    tasks: dict[str, Task] = {}
    for module in _MODULES:
        for cls in module.TASKS:
            task = cls()
            if task.name in tasks:
                raise RuntimeError(f"task {task.name!r} is registered twice")
            tasks[task.name] = task
    return tasks


def task_names() -> list[str]:
    """Names of the built-in task variants, in registration order."""
    return list(_builtin())


def builtin_tasks() -> list[Task]:
    """Every built-in task variant, in registration order."""
    return list(_builtin().values())


def get_task(name: str, custom_tasks: Sequence[object] = ()) -> Task:
    """The task called `name`: built-in, or one of the spec's `custom_tasks`."""
    builtin = _builtin()
    if name in builtin:
        return builtin[name]
    for custom in custom_tasks:
        if getattr(custom, "name", None) == name:
            from engine.tasks.custom import CustomTask

            return CustomTask(custom)  # type: ignore[arg-type]
    known = ", ".join(builtin)
    raise KeyError(f"unknown task {name!r}; built-in tasks: {known}; or declare it under custom_tasks")


def family_of(name: str, custom_tasks: Sequence[object] = ()) -> str:
    """generation | translation | summarization (for a custom task: its kind)."""
    builtin = _builtin()
    if name in builtin:
        return builtin[name].family
    for custom in custom_tasks:
        if getattr(custom, "name", None) == name:
            return str(custom.kind)
    return name  # unknown names are reported by validation; here they count as their own family
