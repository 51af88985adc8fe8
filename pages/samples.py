"""The Samples page (drawn by ui.samples; see that module)."""

from ui import samples, shell

shell.page(samples.render)
