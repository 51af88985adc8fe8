"""What an ingest did and what it could not read: `IngestReport` (str() is the CLI's summary) and
`IngestProblem` (a file that cannot be ingested as it is). Every ingest module reports into one."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class IngestProblem(ValueError):
    """A file that cannot be ingested as it is (corrupt, partial, wrong shape)."""


@dataclass
class IngestReport:
    """What an ingest (or reindex) did; str() is the CLI's summary."""

    db_path: Path
    rebuilt: bool = False
    runs_seen: int = 0
    runs_updated: list[str] = field(default_factory=list)
    runs_pruned: list[str] = field(default_factory=list)
    studies_seen: int = 0
    studies_updated: list[str] = field(default_factory=list)
    studies_pruned: list[str] = field(default_factory=list)
    files_ingested: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows written
    warnings: list[str] = field(default_factory=list)
    write_sessions: int = 0
    elapsed_s: float = 0.0
    skipped: str | None = None  # why nothing was done (another ingest holds the lock)
    reference_runs: list[str] = field(default_factory=list)  # reference runs (re)loaded (store.reference)
    reference_files: int = 0  # their files read

    @property
    def changed(self) -> bool:
        """Whether the database was written (anything ingested or pruned)."""
        return bool(self.runs_updated or self.runs_pruned or self.studies_updated or self.studies_pruned
                    or self.reference_runs)

    def add_rows(self, table: str, count: int) -> None:
        """Count rows written to `table`."""
        self.rows[table] = self.rows.get(table, 0) + int(count)

    def __str__(self) -> str:
        verb = "reindex" if self.rebuilt else "ingest"
        if self.skipped:
            return f"{verb}: skipped — {self.skipped} ({self.db_path})"
        unchanged = self.runs_seen - len(self.runs_updated)
        lines = [
            f"{verb} of {self.db_path}: {self.runs_seen} run(s) found, {len(self.runs_updated)} updated, "
            f"{unchanged} unchanged, {len(self.runs_pruned)} pruned; {self.studies_seen} study(ies), "
            f"{len(self.studies_updated)} updated, {len(self.studies_pruned)} pruned; "
            f"{self.files_ingested} file(s) read in {self.elapsed_s:.2f} s"
        ]
        if self.reference_runs:
            lines.append(f"  reference runs: {len(self.reference_runs)} loaded from {self.reference_files} file(s) "
                         "of paper_results/")
        if self.rows:
            lines.append("  rows written: " + ", ".join(f"{t} {n:,}" for t, n in sorted(self.rows.items())))
        if self.runs_pruned:
            lines.append("  pruned runs: " + ", ".join(self.runs_pruned))
        if self.warnings:
            lines.append(f"  {len(self.warnings)} warning(s):")
            lines.extend(f"    - {w}" for w in self.warnings)
        elif not self.changed:
            lines.append("  nothing changed")
        return "\n".join(lines)
