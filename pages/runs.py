"""The Runs page (drawn by ui.runs; see that module)."""

from ui import runs, shell

shell.page(runs.render)
