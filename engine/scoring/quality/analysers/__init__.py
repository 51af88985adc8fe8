"""The registered analysers: one module per tool, one import line here per module.

To add a tool: write `analysers/<tool>.py` with an `Analyser` subclass (see base.py) and import the
module below. Every `Analyser` subclass with a `name` defined in an imported module is registered;
importing these modules is cheap (each imports its tool lazily, when it first analyses something).
"""

from engine.scoring.quality.analysers import (  # noqa: F401 - imported to register the analysers
    checkstyle_tool,
    javac_tool,
    lizard_tool,
    mcs_tool,
    pylint_tool,
    radon_tool,
)
