"""The built-in analysers, one module per external tool (or tool configuration).

Each module defines an `Analyser` subclass (see engine.scoring.quality.base) and lists it in a
module-level `ANALYSERS` tuple; its import path in engine.scoring.quality.api.ANALYSER_MODULES
registers it. Importing these modules is cheap: each imports or starts its tool only when it first
has work. (The package is not called `analysers`: that is the name of the registry function
`engine.scoring.quality.analysers()`, and a subpackage of the same name would shadow it.)
"""
