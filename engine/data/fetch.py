"""`codetune data fetch codexglue`: the full CodeXGLUE sets the reference study trained on, downloaded
through Hugging Face `datasets` into the data directory in the layout the loaders read.

    google/code_x_glue_ct_code_to_text (python, java)
        → codexglue_code2text_full/<language>/{train,valid,test}.jsonl
    google/code_x_glue_cc_code_to_code_trans
        → codexglue_code2code_trans/{train,valid,test}.java-cs.txt.{java,cs}

Each file is written to a `.partial` file and renamed into place when complete, so nothing is ever
half-written; `fetched.json` beside the files records what was fetched. A second fetch skips every file
that is there (idempotent), an interrupted one goes on with the files still missing (resumable; the
`datasets` cache keeps what was downloaded), and files that were there before (the public translation
release) are left as they are. Without network (or with HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set and
nothing cached) the error says so and how to fix it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.tasks.corpora import FULL_DIR

CODE2TEXT = "google/code_x_glue_ct_code_to_text"
CODE2CODE = "google/code_x_glue_cc_code_to_code_trans"
TRANS_DIR = "codexglue_code2code_trans"
SPLITS = {"train": "train", "valid": "validation", "test": "test"}  # our name → the hub's
KEEP = ("repo", "path", "func_name", "language", "code", "code_tokens", "docstring", "docstring_tokens", "url", "sha")
MANIFEST = "fetched.json"

Loader = Callable[[str, str | None, str], Any]  # (dataset, config, split) → rows with len()
Log = Callable[[str], None]


class FetchError(RuntimeError):
    """A download that could not be done, with the fix."""


@dataclass
class FetchReport:
    """What a fetch did, file by file: fetched, present (skipped) or failed."""

    files: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """As plain data for the front ends."""
        return {"ok": self.error is None, "error": self.error, "files": self.files}


def hub_loader(dataset: str, config: str | None, split: str) -> Any:
    """One split of a hub dataset through `datasets` (downloads into its cache, resuming)."""
    from datasets import load_dataset

    return load_dataset(dataset, config, split=split)


def _load(load: Loader, dataset: str, config: str | None, split: str) -> Any:
    try:
        return load(dataset, config, split)
    except Exception as exc:  # pylint: disable=broad-exception-caught  # network, offline mode, hub errors
        what = f"{dataset}" + (f" ({config})" if config else "") + f", split {split}"
        offline = [name for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE") if os.environ.get(name) not in
                   (None, "", "0", "false", "False")]
        hint = f" ({' and '.join(offline)} set)" if offline else ""
        raise FetchError(f"could not download {what}{hint}: {type(exc).__name__}: {exc}. Fix: run it on a machine "
                         "that reaches huggingface.co (unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE), then run "
                         "`codetune data fetch codexglue` again: what is done is kept") from exc


def _write_atomic(path: Path, lines: Iterable[str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as fh:
            for line in lines:
                fh.write(line + "\n")
                count += 1
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _progress(rows: Any, label: str, log: Log) -> Iterable[Mapping[str, Any]]:
    total = len(rows)
    step = max(total // 10, 1)
    started = time.time()
    for i, row in enumerate(rows, start=1):
        if i % step == 0 or i == total:
            log(f"  {label}: {i:,}/{total:,} rows ({time.time() - started:.0f} s)")
        yield row


def _record(folder: Path, entry: dict[str, Any]) -> None:
    manifest = folder / MANIFEST
    data = json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
    data[entry["file"]] = entry
    tmp = manifest.with_name(MANIFEST + ".partial")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, manifest)


def _code2text(data_dir: Path, load: Loader, log: Log, report: FetchReport) -> None:
    for language in ("python", "java"):
        folder = data_dir / FULL_DIR / language
        for ours, theirs in SPLITS.items():
            path = folder / f"{ours}.jsonl"
            if path.is_file():
                report.files.append({"path": str(path), "state": "present", "rows": _count_lines(path)})
                continue
            log(f"{CODE2TEXT} ({language}, {theirs}) → {path}")
            rows = _load(load, CODE2TEXT, language, theirs)
            label = f"{language}/{ours}"
            count = _write_atomic(path, (json.dumps({k: row.get(k) for k in KEEP}, ensure_ascii=False)
                                         for row in _progress(rows, label, log)))
            _record(folder, {"file": path.name, "dataset": CODE2TEXT, "config": language, "split": theirs,
                             "rows": count, "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
            report.files.append({"path": str(path), "state": "fetched", "rows": count})


def _one_line(text: str, what: str) -> str:
    if "\n" in text:
        raise FetchError(f"{what} holds a line break: the paired files need one function per line. Fix: report it; "
                         "the hub's copy differs from the 2020 release")
    return text


def _code2code(data_dir: Path, load: Loader, log: Log, report: FetchReport) -> None:
    folder = data_dir / TRANS_DIR
    for ours, theirs in SPLITS.items():
        paths = {ext: folder / f"{ours}.java-cs.txt.{ext}" for ext in ("java", "cs")}
        if all(p.is_file() for p in paths.values()):
            for p in paths.values():
                report.files.append({"path": str(p), "state": "present", "rows": _count_lines(p)})
            continue
        log(f"{CODE2CODE} ({theirs}) → {folder}")
        rows = list(_progress(_load(load, CODE2CODE, None, theirs), ours, log))
        counts = {}
        for ext, p in paths.items():
            column = "java" if ext == "java" else "cs"
            counts[ext] = _write_atomic(p, (_one_line(r[column], f"{theirs} row {i} ({column})")
                                            for i, r in enumerate(rows, start=1)))
            _record(folder, {"file": p.name, "dataset": CODE2CODE, "split": theirs, "rows": counts[ext],
                             "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        report.files.extend({"path": str(p), "state": "fetched", "rows": counts[ext]} for ext, p in paths.items())


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def fetch_codexglue(data_dir: Path, load: Loader | None = None, log: Log | None = None) -> FetchReport:
    """Fetch CodeXGLUE code-to-text (Python, Java) and code-to-code-trans into `data_dir`; returns what
    was fetched or found, or the error (files completed before it are kept)."""
    load = load or hub_loader
    log = log or (lambda message: None)
    report = FetchReport()
    data_dir = Path(data_dir).expanduser()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        _code2text(data_dir, load, log, report)
        _code2code(data_dir, load, log, report)
    except (FetchError, OSError) as exc:
        report.error = str(exc)
    return report


FETCHERS = {"codexglue": fetch_codexglue}


def fetch(what: str, data_dir: Path, log: Log | None = None) -> dict[str, Any]:
    """Fetch the dataset `what` (engine.api.fetch_data): the report as plain data."""
    if what not in FETCHERS:
        return {"ok": False, "error": f"unknown dataset {what!r}; known: {', '.join(FETCHERS)}", "files": []}
    return FETCHERS[what](data_dir, log=log).to_dict()
