"""The Compare page (drawn by ui.compare; see that module)."""

from ui import compare, shell

shell.page(compare.render)
