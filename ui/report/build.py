"""What a report holds, gathered once: the selection (a study or runs, resolved to columns and a
baseline), the verdicts and the values with n and intervals (ui.verdict_data), the costs (the
store's `run_costs` query), the runs, their fidelity notes and specs, and the versions of the
environment that wrote the report.

Every store read goes through a `query(name, **params) -> DataFrame` callable, so the Compare page
(its cached Reader) and the command line (a Reader of its own) share this code. A part that is not
available (a module or query another release adds, a run whose spec no longer reads) becomes a
table with a note saying so; the rest of the report is still written.
"""

from __future__ import annotations

import datetime as dt
import importlib
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from engine import api
from engine.settings import Settings
from engine.vocabulary import DONE, config_rank, headline_metric
from ui.formatting import is_missing, params_b, run_label, short_hash, size_of

QueryFn = Callable[..., pd.DataFrame]
ROOT = Path(__file__).resolve().parents[2]
# The libraries whose versions decide what a run computes, as pip names them ("codetune" is us).
VERSIONED = (("torch", "torch"), ("transformers", "transformers"), ("peft", "peft"), ("trl", "trl"),
             ("codetune", "codetune-studio"))


class ReportTargetError(ValueError):
    """The study or run ids given name nothing that can be reported; the message says what to use."""


@dataclass(frozen=True)
class Selection:
    """What the report compares: run id → column label (runs of one configuration share a label),
    the baseline column's label, and the runs named that were left out (not finished)."""

    title: str
    columns: dict[str, str]
    baseline: str
    study_id: str | None = None
    left_out: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    """One table of the report: its file stem, title, raw values (the CSV) and a note (what it is,
    or why it is empty)."""

    name: str
    title: str
    frame: pd.DataFrame
    note: str = ""

    @property
    def available(self) -> bool:
        """Whether the table has rows."""
        return not self.frame.empty


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows."""

    selection: Selection
    generated_at: str
    runs: Table
    verdicts: Table
    values: Table
    costs: Table
    fidelity: Table
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    headlines: dict[str, str] = field(default_factory=dict)  # task → headline metric

    def tables(self) -> list[Table]:
        """The tables written as CSV (and, those with numbers, as LaTeX), in the page's order."""
        return [self.verdicts, self.values, self.costs, self.runs, self.fidelity]


# --- the selection -----------------------------------------------------------------------------------


def _candidates(rows: list[dict[str, Any]], id_column: str, text: str) -> list[dict[str, Any]]:
    """The rows `text` names: the one whose id or name it is exactly, else those whose id it begins."""
    for column in (id_column, "name"):
        exact = [r for r in rows if r.get(column) == text]
        if len(exact) == 1:
            return exact
    return [r for r in rows if str(r[id_column]).startswith(text)]


def _match_study(studies: pd.DataFrame, text: str) -> dict[str, Any] | None:
    found = [] if studies.empty else _candidates(studies.to_dict("records"), "study_id", text)
    return found[0] if len(found) == 1 else None


def _match_run(overview: pd.DataFrame, text: str) -> dict[str, Any]:
    found = _candidates(overview.to_dict("records"), "run_id", text)
    if len(found) == 1:
        return found[0]
    if not found:
        raise ReportTargetError(f"no study or run is named {text!r}. Fix: give a study id or name (the Compare "
                                "page's study list, `codetune status` shows run ids) or run ids")
    raise ReportTargetError(f"{text!r} names {len(found)} runs ({', '.join(r['run_id'] for r in found[:4])}, "
                            "...). Fix: give more of the run id")


def _ordered(rows: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str]:
    """run id → label, ordered as Compare orders columns: by model size, configuration, label."""

    def rank(row: dict[str, Any]) -> tuple[float, int, str]:
        size = params_b(row.get("model"), row.get("model_size"), row.get("model_params_b"))
        return (size if size is not None else 1e9, config_rank(row.get("config") or row.get("label") or ""),
                labels[row["run_id"]])

    return {r["run_id"]: labels[r["run_id"]] for r in sorted(rows, key=rank)}


def _run_labels(rows: list[dict[str, Any]]) -> dict[str, str]:
    """A label per run as Compare's per-run columns read: '0.5B MT-QLoRA', the reference runs' own
    names, '#hash' added where two runs would read the same."""
    labels = {r["run_id"]: (str(r["name"]) if r.get("is_reference") and r.get("name")
                            else run_label({**r, "config": None}, with_hash=False)) for r in rows}
    counts = pd.Series(list(labels.values())).value_counts()
    return {rid: (f"{lab} #{short_hash(rid)}" if counts[lab] > 1 else lab) for rid, lab in labels.items()}


def baseline_label(columns: dict[str, str], wanted: str) -> str | None:
    """The column label `wanted` names: a run id's column, a label, or a configuration ('zero-shot'
    names '0.5B zero-shot', the first such column); None when it names none."""
    labels = list(dict.fromkeys(columns.values()))
    if wanted in columns:
        return columns[wanted]
    if wanted in labels:
        return wanted
    return next((lab for lab in labels if lab.endswith(f" {wanted}")), None)


def _baseline(columns: dict[str, str], rows: list[dict[str, Any]], wanted: str | None) -> str:
    labels = list(dict.fromkeys(columns.values()))
    if wanted:
        found = baseline_label(columns, wanted)
        if found is None:
            raise ReportTargetError(f"baseline {wanted!r} is none of the report's columns. Fix: use one of "
                                    f"{', '.join(map(repr, labels))} (or a run id)")
        return found
    zero = [columns[r["run_id"]] for r in rows if r.get("method") == "none" and r["run_id"] in columns]
    return zero[0] if zero else labels[0]


def resolve(query: QueryFn, targets: Sequence[str], baseline: str | None = None) -> Selection:
    """The columns a report compares: one study (its finished runs, labelled '<size> <configuration>'
    as Compare's per-configuration columns), or the runs named (ids, unique id prefixes or reference
    run names, labelled per run). ReportTargetError when nothing matches or nothing has finished."""
    targets = [t for t in targets if t]
    if not targets:
        raise ReportTargetError("nothing to report. Fix: give a study id or one or more run ids")
    study = _match_study(query("studies"), targets[0]) if len(targets) == 1 else None
    if study is not None:
        members = query("study_runs", study_id=study["study_id"])
        done = members[members["state"] == DONE]
        rows = done.to_dict("records")
        labels = {r["run_id"]: f"{size_of(r.get('model'), r.get('model_size'))} {r['config']}" for r in rows}
        left = tuple(f"{r['run_id']} ({r['state'] or 'not indexed'})" for r in members.to_dict("records")
                     if r["state"] != DONE)
        title = f"Study {study.get('name') or study['study_id']}"
        study_id: str | None = str(study["study_id"])
    else:
        overview = query("runs_overview")
        named = {r["run_id"]: r for r in (_match_run(overview, t) for t in targets)}
        rows = [r for r in named.values() if r["state"] == DONE]
        labels = _run_labels(rows)
        left = tuple(f"{r['run_id']} ({r['state']})" for r in named.values() if r["state"] != DONE)
        shown = list(dict.fromkeys(labels[r["run_id"]] for r in rows))
        title = " vs ".join(shown) if len(shown) <= 3 else f"{len(named)} runs"
        study_id = None
    if not rows:
        raise ReportTargetError(f"{', '.join(targets)}: no finished run to report ({', '.join(left) or 'no runs'}). "
                                "Fix: wait for the runs to finish (`codetune status`)")
    columns = _ordered(rows, labels)
    return Selection(title, columns, _baseline(columns, rows, baseline), study_id, left)


# --- the parts ---------------------------------------------------------------------------------------


def _not_available(name: str, title: str, why: str) -> Table:
    return Table(name, title, pd.DataFrame(), f"Not available: {why}")


def _from_verdict_data(function: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
    """Call ui.verdict_data.<function> (the Compare page's verdicts and values)."""
    module = importlib.import_module("ui.verdict_data")
    return getattr(module, function)(*args, **kwargs)


def _verdicts(query: QueryFn, selection: Selection, resamples: int, seed: int) -> Table:
    title = f"Verdicts against {selection.baseline}"
    if len(set(selection.columns.values())) < 2:
        return _not_available("verdicts", title, "one column only: nothing to compare it with")
    try:
        frame = _from_verdict_data("verdict_table", query, selection.columns, selection.baseline,
                                   resamples=resamples, seed=seed)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # the rest of the report is still worth writing; the section says what went wrong
        return _not_available("verdicts", title, f"{type(exc).__name__}: {exc}")
    note = (f"Per task, each column's headline metric against {selection.baseline}: the difference B − A with "
            f"its 95% paired-bootstrap interval ({resamples} resamples, seed {seed}), n paired samples, the "
            "paired test's p-value (McNemar for pass/fail, Wilcoxon otherwise) Holm-corrected across the rows, "
            "and Cliff's delta.")
    return Table("verdicts", title, frame.reset_index(drop=True), note)


def _values(query: QueryFn, selection: Selection) -> Table:
    title = "Values per task and metric"
    try:
        frame = _from_verdict_data("value_table", query, selection.columns)
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return _not_available("values", title, f"{type(exc).__name__}: {exc}")
    note = ("Each column's value with its n and 95% interval (Wilson for pass/fail, t otherwise); "
            "k is the number of passing samples for pass/fail metrics.")
    return Table("values", title, frame.reset_index(drop=True), note)


def _costs(query: QueryFn, selection: Selection) -> Table:
    title = "Cost per run"
    try:
        frame = query("run_costs", run_ids=list(selection.columns))
    except KeyError:
        return _not_available("costs", title, "this store has no cost query (run_costs)")
    except Exception as exc:  # pylint: disable=broad-exception-caught
        return _not_available("costs", title, f"{type(exc).__name__}: {exc}")
    if frame.empty:
        return _not_available("costs", title, "the store records no cost for these runs")
    frame = frame.copy()
    frame.insert(0, "column", frame["run_id"].map(selection.columns))
    return Table("costs", title, frame.reset_index(drop=True),
                 "Trainable and total parameters, adapter size, peak memory, training time and throughput as "
                 "each run recorded them.")


def _runs(query: QueryFn, selection: Selection) -> Table:
    overview = query("runs_overview", run_ids=list(selection.columns))
    keep = ["run_id", "name", "label", "model", "method", "tasks", "state", "finished_at", "duration_s",
            "is_reference"]
    frame = overview[[c for c in keep if c in overview]].copy()
    frame.insert(0, "column", frame["run_id"].map(selection.columns))
    frame["tasks"] = frame["tasks"].map(lambda t: " ".join(map(str, t)) if not is_missing(t) else "")
    frame["finished_at"] = frame["finished_at"].map(
        lambda t: "" if is_missing(t) else dt.datetime.fromtimestamp(float(t), dt.UTC).isoformat(timespec="seconds"))
    order = {rid: i for i, rid in enumerate(selection.columns)}
    frame = frame.sort_values("run_id", key=lambda s: s.map(order)).reset_index(drop=True)
    return Table("runs", "The runs", frame, "The finished runs behind each column (reference runs have no spec "
                 "or run directory: they are the paper's per-sample results).")


def _own_runs(runs: Table) -> list[str]:
    frame = runs.frame
    if "is_reference" not in frame:
        return list(frame["run_id"])
    return [r for r, ref in zip(frame["run_id"], frame["is_reference"], strict=True) if not ref]


def _fidelity(run_ids: list[str], selection: Selection, settings: Settings) -> Table:
    """Each difference from the reference recipe once, with the columns whose runs have it."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    problems = []
    for run_id in run_ids:
        try:
            differences = api.run_fidelity(run_id, settings)
        except Exception as exc:  # pylint: disable=broad-exception-caught
            # a spec that no longer validates still lets the report say the other runs' notes
            problems.append(f"{selection.columns[run_id]} ({run_id}): {type(exc).__name__}: {exc}")
            continue
        for d in differences:
            key = (str(d.get("field")), str(d.get("paper")), str(d.get("this")))
            row = found.setdefault(key, {"field": key[0], "paper": key[1], "this": key[2],
                                         "effect": d.get("effect") or "",
                                         "why": "necessary here" if d.get("necessary") else "chosen",
                                         "columns": []})
            if selection.columns[run_id] not in row["columns"]:
                row["columns"].append(selection.columns[run_id])
    frame = pd.DataFrame(list(found.values()), columns=["field", "paper", "this", "effect", "why", "columns"])
    frame["columns"] = frame["columns"].map(", ".join)
    note = ("Each setting that differs from the reference study's recipe, what it is known to change, and "
            "whether it was chosen or forced by the data or harness available here.")
    if problems:
        note += " Not read: " + "; ".join(problems) + "."
    if frame.empty and not problems:
        note = "Every run matches the reference study's recipe in every setting tracked." if run_ids else \
            "Only reference runs: no spec to compare with the recipe."
    return Table("fidelity", "Differences from the reference recipe", frame, note)


def _specs(run_ids: list[str], settings: Settings) -> dict[str, dict[str, Any]]:
    specs = {}
    for run_id in run_ids:
        try:
            specs[run_id] = api.run_dir(run_id, settings).read_spec()
        except (OSError, KeyError) as exc:
            specs[run_id] = {"error": f"{type(exc).__name__}: {exc}"}
    return specs


def git_commit(root: Path = ROOT) -> str | None:
    """The checkout's commit (with '+changes' when the work tree differs from it), or None outside git."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+changes" if dirty else head or None


def versions() -> dict[str, str]:
    """Python, torch, transformers, peft, trl and codetune versions (read from the installed packages'
    metadata: nothing is imported) and the git commit, 'not installed' / 'none' where absent."""
    out = {"python": platform.python_version()}
    for shown, package in VERSIONED:
        try:
            out[shown] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[shown] = "not installed"
    out["git commit"] = git_commit() or "none (not a git checkout)"
    out["platform"] = platform.platform(terse=True)
    return out


def _headlines(values: Table, verdicts: Table) -> dict[str, str]:
    """task → the metric its figures show: the verdicts' metric where the values have it, else the
    task family's headline metric among the values."""
    judged = {}
    if verdicts.available and {"task", "metric"} <= set(verdicts.frame):
        judged = dict(zip(verdicts.frame["task"], verdicts.frame["metric"], strict=True))
    if not values.available:
        return judged
    families = {t["name"]: t["family"] for t in api.catalogue()["tasks"]}
    infos = api.metric_infos()
    out = {}
    for task, group in values.frame.groupby("task", sort=True):
        reported = list(dict.fromkeys(group["metric"]))
        metric = judged.get(str(task))
        if metric not in reported:
            metric = headline_metric(families.get(str(task)), reported, infos)
        if metric:
            out[str(task)] = metric
    return out


def gather(query: QueryFn, selection: Selection, settings: Settings, resamples: int = 2000,
           seed: int = 0) -> ReportData:
    """Read everything the report of `selection` shows."""
    runs = _runs(query, selection)
    own = _own_runs(runs)
    verdicts = _verdicts(query, selection, resamples, seed)
    values = _values(query, selection)
    return ReportData(
        selection=selection,
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        runs=runs,
        verdicts=verdicts,
        values=values,
        costs=_costs(query, selection),
        fidelity=_fidelity(own, selection, settings),
        specs=_specs(own, settings),
        versions=versions(),
        headlines=_headlines(values, verdicts),
    )
