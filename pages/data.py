"""The Data page (drawn by ui.datasets; see that module)."""

from ui import datasets, shell

shell.page(datasets.render)
