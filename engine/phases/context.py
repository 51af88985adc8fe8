"""What every phase of a run gets: the run directory, its spec, the settings, the device, and a
throttled progress reporter that also beats the run's heart and checks for cancellation."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import Cancelled
from engine.runs.rundir import RunDir
from engine.settings import Settings
from engine.spec import RunSpec
from engine.tasks.base import Example

EVAL_FILE = "eval_examples.jsonl"


@dataclass
class PhaseContext:
    """What every phase gets: the run, its spec, the settings, the device, a progress reporter."""

    run: RunDir
    spec: RunSpec
    settings: Settings
    device: str = "cpu"
    console: bool = False
    _last_report: float = field(default=0.0, repr=False)

    @property
    def data_dir(self) -> Path:
        """The data directory: the spec's, else the settings' default."""
        return Path(self.spec.data_dir).expanduser() if self.spec.data_dir else self.settings.data_dir

    def progress(self, phase: str, done: int, total: int, force: bool = False) -> None:
        """Record progress (throttled to one status write per second) and beat the heart."""
        now = time.time()
        if force or done >= total or now - self._last_report >= 1.0:
            self._last_report = now
            self.run.update_status(progress={"phase": phase, "done": done, "total": total})
            self.run.heartbeat(phase=phase)
            if self.console:
                width = 30
                filled = int(width * done / total) if total else width
                print(f"\r  {phase:<9} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="",
                      file=sys.stderr, flush=True)
                if done >= total:
                    print(file=sys.stderr)

    def check_cancel(self) -> None:
        """Raise Cancelled if a cancel was requested for the run."""
        if self.run.cancel_requested():
            raise Cancelled("cancelled on request")

    def eval_examples(self) -> list[Example]:
        """The run's saved evaluation examples (from its eval_examples.jsonl)."""
        path = self.run.file(EVAL_FILE)
        with open(path, encoding="utf-8") as fh:
            return [Example.from_dict(json.loads(line)) for line in fh if line.strip()]
