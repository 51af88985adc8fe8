"""Static code-quality analysis of generated samples by analysers: pylint, radon, lizard, checkstyle,
javac, mcs.

Words: an *analyser* is a registered way of running one external program or library, its *tool*
(the checkstyle tool backs two analysers, checkstyle-sun and checkstyle-google); *quality* is what the
analysers measure. The `tool` field of Finding / ToolResult, and the `tool` column of the findings and
quality tables of a run directory and the store, hold the analyser's name (the stored column keeps
its name).

Public API (see api.py and model.py):
    analyse(samples, analysers=None, progress=None, *, config=None) -> list[ToolResult]
    analysers() -> {name: Analyser};  default_analysers(language) -> list[str]
    available_analysers(config=None) -> list[AnalyserInfo]
    Sample, Finding, ToolResult, QualityConfig, AnalyserInfo, Analyser, AnalyserUnavailable
The built-in analysers live in builtin/<tool>_analyser.py, registered by their paths in
api.ANALYSER_MODULES; plugin modules named in CODETUNE_PLUGINS that define ANALYSERS are registered too.
Importing this package imports no analysis tool; each is imported or started when it first has work.
"""

from engine.scoring.quality.api import (
    ANALYSER_MODULES,
    analyse,
    analysers,
    available_analysers,
    default_analysers,
)
from engine.scoring.quality.base import Analyser, AnalyserUnavailable
from engine.scoring.quality.model import AnalyserInfo, Finding, QualityConfig, Sample, ToolResult

__all__ = [
    "ANALYSER_MODULES",
    "Analyser",
    "AnalyserInfo",
    "AnalyserUnavailable",
    "Finding",
    "QualityConfig",
    "Sample",
    "ToolResult",
    "analyse",
    "analysers",
    "available_analysers",
    "default_analysers",
]
