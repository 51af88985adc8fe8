"""CodeTune Studio engine: everything that does work (specs, data, training, generation, scoring, runs).

Importing this package does no work; heavy libraries (torch, transformers) are imported by the
modules that need them, so the dashboard can import `engine.api` and `engine.spec` cheaply.
"""
