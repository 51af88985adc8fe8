"""Static code-quality analysis of generated samples: pylint, radon, lizard, checkstyle, javac, mcs.

Public API (see api.py and model.py):
    analyse(samples, tools=None, progress=None, *, config=None) -> list[ToolResult]
    default_tools(language) -> list[str];  available_tools(config=None) -> list[ToolInfo]
    Sample, Finding, ToolResult, QualityConfig, ToolInfo
Each analyser lives in analysers/<tool>.py (the registry: analysers/__init__.py). Importing this
package imports no analysis tool; each is imported or started when it first has work.
"""

from engine.scoring.quality.api import analyse, available_tools, default_tools, registry
from engine.scoring.quality.model import Finding, QualityConfig, Sample, ToolInfo, ToolResult

__all__ = [
    "Finding",
    "QualityConfig",
    "Sample",
    "ToolInfo",
    "ToolResult",
    "analyse",
    "available_tools",
    "default_tools",
    "registry",
]
