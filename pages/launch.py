"""The Launch page (drawn by ui.launch; see that module)."""

from ui import launch, shell

shell.page(launch.render)
