"""The phases of a run, in order: prepare → train → generate → score → analyse, with the context they
share (context) and the driver that runs them, resumable by phase (recipe)."""
