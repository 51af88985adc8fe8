"""The one typed, validated spec that flows from the UI and the command line through the engine to
the store: RunSpec (one run) and StudySpec (a matrix of runs), parsing with every error at once.

    run.py      RunSpec and its parts; hashing and merging helpers
    study.py    StudySpec and its expansion into RunSpecs
    checks.py   validation: pydantic errors and semantic checks as SpecErrors
    parse.py    a spec from data (by `kind`) or from a YAML/JSON file
    presets.py  the shipped presets;  planning.py  a study's dry run (runs, mixtures, tokens, steps)
    schedule.py a run's warm-up, evaluation cadence and early stopping;  recipe.py  the reference
                recipe as data;  fidelity.py  a spec against it;  showprompts.py  `--show-prompts`
"""

from engine.errors import SpecError, SpecValidationError
from engine.spec.checks import parse_run_spec
from engine.spec.parse import load_spec_file, parse_spec, spec_or_none
from engine.spec.run import (
    PAPER_TARGET_MODULES,
    CustomTaskSpec,
    EvalSpec,
    LoraSpec,
    MixtureSpec,
    ModelSpec,
    QuantSpec,
    ResourceSpec,
    RunSpec,
    TaskEntry,
    TrainSpec,
    canonical_hash,
    deep_merge,
    slug,
)
from engine.spec.study import StudyConfig, StudyRun, StudySpec, expand_study, parse_study_spec

__all__ = [
    "PAPER_TARGET_MODULES", "CustomTaskSpec", "EvalSpec", "LoraSpec", "MixtureSpec", "ModelSpec",
    "QuantSpec", "ResourceSpec", "RunSpec", "SpecError", "SpecValidationError", "StudyConfig", "StudyRun",
    "StudySpec", "TaskEntry", "TrainSpec", "canonical_hash", "deep_merge", "expand_study", "load_spec_file",
    "parse_run_spec", "parse_spec", "parse_study_spec", "slug", "spec_or_none",
]
