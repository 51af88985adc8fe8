"""Hugging Face `evaluate` modules for the registered metrics, generated on demand (never committed).

`evaluate.load("<hub name>")` needs the network; `evaluate.load("<local folder>")` works offline when the
folder holds `<folder name>.py` defining an `evaluate.Metric` subclass. This module writes such a folder
for any registered metric, so a notebook or another harness gets exactly the values of
`engine.scoring.metrics.compute()`:

    from engine.scoring.metrics.evaluate_modules import write_all, write_evaluate_module
    folder = write_evaluate_module("bleu", Path("hf_metrics"))      # hf_metrics/bleu/bleu.py
    write_all(Path("hf_metrics"))                                    # {"bleu": ..., "chrf": ..., ...}

    import evaluate                                                  # HF_HUB_OFFLINE=1 is fine
    bleu = evaluate.load(str(folder))
    bleu.compute(predictions=[...], references=[...])                # lang=..., metric options too

What a loaded module's `compute()` returns, for a metric registered as NAME (keys namespaced by the
metric name so that `evaluate.combine()` of several modules never clashes or renames keys):

    {NAME: mean,                  # mean of the per-sample values (what the paper reports)
     f"{NAME}_corpus": corpus,    # the library's pooled corpus value, or the mean where none exists
     f"{NAME}_per_sample": [...], # one value per (prediction, reference) pair, in input order
     f"{NAME}_meta": {...}}       # what compute() records: library versions, settings, seeds

Inputs: `predictions` and `references` are lists of strings; `lang` is passed on as `compute(lang=...)`
does (only the metrics that take one use it, e.g. codebleu); any other keyword is a metric option
(`compute(options={NAME: {...}})`), checked by the registry. The generated script holds only the metric
name and a class named after it; everything else comes from `engine.scoring.metrics` (its public API:
`compute`, `get_metric`) when the module is loaded, so the project must be installed in the
environment that loads it (`pip install -e .`; evaluate copies the script into its own module cache, so
it cannot import anything relative to its folder). A metric from a plugin module is found only where the
same CODETUNE_PLUGINS is set; elsewhere loading the module fails with the registry's "unknown metric".

Folder names: a registered name made only of lower-case ASCII letters, digits and underscores (not
starting with a digit) is used as it is; any other name is reduced to those characters and given a
suffix from a hash of the name (e.g. "chrf++" -> "chrf_<8 hex>"), so folder names are valid module
names for evaluate's cache and two names never share a folder. The name inside the script is the
registered one.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from engine.scoring import metrics as registry

# Bumped when the generated script changes shape (recorded in the script).
FORMAT_VERSION = 1

_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_NOT_ALLOWED = re.compile(r"[^a-z0-9_]+")

_TEMPLATE = '''\
"""CodeTune Studio metric `{folder}` as a Hugging Face `evaluate` module (generated; do not edit).

Written by engine.scoring.metrics.evaluate_modules (format {format_version}); load it offline with
evaluate.load("<this folder>"). Every value comes from CodeTune Studio's metric registry,
engine.scoring.metrics.compute(), which must be importable where this module is loaded.

compute(predictions=[str, ...], references=[str, ...], lang=None, **options) returns
{{NAME: mean, NAME + "_corpus": corpus, NAME + "_per_sample": [...], NAME + "_meta": {{...}}}}
with NAME = METRIC_NAME below; options are the metric's own (see the registry).
"""

from typing import Any

import datasets
import evaluate

METRIC_NAME = {name!r}
FORMAT_VERSION = {format_version}


def _registry() -> Any:
    # Imported here, not at the top: evaluate reads a script's top-level imports and would answer a
    # missing project with "pip install engine", which installs the wrong thing.
    try:
        from engine.scoring import metrics
    except ImportError as exc:
        raise ImportError(
            f"the evaluate module {{METRIC_NAME!r}} is backed by CodeTune Studio's metric registry "
            "(engine.scoring.metrics), which is not importable here; install the project in this "
            "environment (pip install -e <codetune-studio checkout>)") from exc
    return metrics


class {class_name}(evaluate.Metric):
    """The registered metric METRIC_NAME, computed by engine.scoring.metrics.compute()."""

    def _info(self) -> evaluate.MetricInfo:
        metric = _registry().get_metric(METRIC_NAME)
        options = ", ".join(metric.options) or "none"
        keys = ", ".join(repr(METRIC_NAME + suffix) for suffix in ("", "_corpus", "_per_sample", "_meta"))
        return evaluate.MetricInfo(
            description=f"{{metric.description}} (CodeTune Studio metric {{METRIC_NAME!r}})",
            citation="",
            inputs_description=(
                "predictions: list of str; references: list of str, one per prediction; lang: the code "
                f"language, for the metrics that take one; metric options: {{options}}. Returns a dict with "
                f"the keys {{keys}}: the mean of the per-sample values, the corpus value, the per-sample "
                "values and the metadata of engine.scoring.metrics.compute()."),
            features=datasets.Features({{
                "predictions": datasets.Value("string"),
                "references": datasets.Value("string"),
            }}),
        )

    # pylint: disable-next=arguments-differ  # adds lang and the metric's options, as evaluate intends
    def _compute(self, predictions: list[str], references: list[str], lang: str | None = None,
                 **options: Any) -> dict[str, Any]:
        result = _registry().compute([METRIC_NAME], list(predictions), list(references), lang=lang,
                                     options={{METRIC_NAME: options}} if options else None)[METRIC_NAME]
        return {{
            METRIC_NAME: result["mean"],
            METRIC_NAME + "_corpus": result["corpus"],
            METRIC_NAME + "_per_sample": result["per_sample"],
            METRIC_NAME + "_meta": result["meta"],
        }}
'''


def folder_name(name: str) -> str:
    """The folder (and script) name for a metric name: the name itself when it is a plain lower-case
    identifier, else its allowed characters plus an 8-hex-digit hash of the name (never empty, never
    starting with a digit, distinct for distinct names)."""
    if _PLAIN_NAME.fullmatch(name):
        return name
    stem = _NOT_ALLOWED.sub("_", name.lower()).strip("_") or "metric"
    if stem[0].isdigit():
        stem = f"metric_{stem}"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{stem}_{digest}"


def class_name(folder: str) -> str:
    """The Metric subclass name for a folder name: CamelCase of its underscore-separated parts."""
    return "".join(part[:1].upper() + part[1:] for part in folder.split("_") if part) or "Metric"


def render_script(name: str) -> str:
    """The text of the generated evaluate script for the registered metric `name` (its exact spelling)."""
    folder = folder_name(name)
    return _TEMPLATE.format(folder=folder, name=name, class_name=class_name(folder),
                            format_version=FORMAT_VERSION)


def _write_if_changed(path: Path, text: str) -> None:
    # Unchanged content is left alone (same file, same mtime); a change is written atomically.
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the script is meant to be read by others too
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_evaluate_module(name: str, dest: Path) -> Path:
    """Write the evaluate module of the registered metric `name` to `<dest>/<folder>/<folder>.py`.

    `name` is looked up as `get_metric()` does (case-insensitive); an unknown name raises MetricError
    listing the known metrics, before anything is written. Returns the folder, which is what
    `evaluate.load(str(folder))` takes. Rewriting an existing folder is safe (same content: untouched).
    """
    metric = registry.get_metric(name)
    folder = Path(dest) / folder_name(metric.name)
    folder.mkdir(parents=True, exist_ok=True)
    _write_if_changed(folder / f"{folder.name}.py", render_script(metric.name))
    return folder


def write_all(dest: Path) -> dict[str, Path]:
    """Write the evaluate module of every registered metric under `dest`; {metric name: folder}."""
    names = registry.available_metrics()
    folders: dict[str, str] = {}
    for name in names:
        other = folders.setdefault(folder_name(name), name)
        if other != name:
            raise registry.MetricError(f"metrics {other!r} and {name!r} would share the evaluate module "
                                       f"folder {folder_name(name)!r}; rename one of them")
    return {name: write_evaluate_module(name, dest) for name in names}
