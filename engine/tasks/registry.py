"""The task registry: built-in task variants by name (engine.registry.Registry over the modules below,
plus plugin modules from CODETUNE_PLUGINS), and custom tasks declared in a spec.

A new task variant is a Task subclass in a module that lists it in `TASKS = (...)`; a new module is
one more line in `MODULES`. The families are engine.vocabulary.FAMILIES, their behaviour
engine.tasks.families.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.registry import Registry
from engine.tasks.custom import CustomTask, CustomTaskDeclaration
from engine.tasks.task import Task

TASK_MODULES = ("engine.tasks.generation", "engine.tasks.translation", "engine.tasks.summarization")


def _instantiate(item: object) -> Task:
    """A module's TASKS lists Task subclasses (instantiated here) or ready Task instances."""
    if isinstance(item, type) and issubclass(item, Task):
        return item()
    if isinstance(item, Task):
        return item
    raise TypeError(f"TASKS entries must be Task subclasses or instances, not {item!r}")


_REGISTRY: Registry[Task] = Registry("task", "TASKS", TASK_MODULES, name_of=lambda task: task.name, make=_instantiate)


def task_names() -> list[str]:
    """Names of the built-in task variants, in registration order."""
    return _REGISTRY.names()


def builtin_tasks() -> list[Task]:
    """Every built-in task variant, in registration order."""
    return _REGISTRY.entries()


def _declared(name: str, custom_tasks: Sequence[CustomTaskDeclaration]) -> CustomTaskDeclaration | None:
    return next((custom for custom in custom_tasks if custom.name == name), None)


def get_task(name: str, custom_tasks: Sequence[CustomTaskDeclaration] = ()) -> Task:
    """The task called `name`: built-in, or one of the spec's `custom_tasks`."""
    if name in _REGISTRY:
        return _REGISTRY.get(name)
    declared = _declared(name, custom_tasks)
    if declared is not None:
        return CustomTask(declared)
    known = ", ".join(_REGISTRY.names())
    raise KeyError(f"unknown task {name!r}; built-in tasks: {known}; or declare it under custom_tasks")


def family_of(name: str, custom_tasks: Sequence[CustomTaskDeclaration] = ()) -> str:
    """generation | translation | summarization (for a custom task: its declared family)."""
    if name in _REGISTRY:
        return _REGISTRY.get(name).family
    declared = _declared(name, custom_tasks)
    if declared is not None:
        return declared.family
    return name  # unknown names are reported by validation; here they count as their own family
