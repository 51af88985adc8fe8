"""The Quality page (drawn by ui.quality; see that module)."""

from ui import quality, shell

shell.page(quality.render)
