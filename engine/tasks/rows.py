"""From a user's records to usable rows, with a report per file instead of one message per row.

A custom task maps its fields (input, target, id, tests, entry point) onto each record
(engine.tasks.readers). A record that lacks a mapped field altogether is a mapping error (DataError:
the file, the position, the fields it does have). A record whose value is unusable is a *rejected
row*, grouped by reason: an empty input, target, id or test (null, "" or only whitespace), or a value
that is not text (true/false, a number, a list, an object) where text is needed; numbers are accepted
as ids, and a list of strings as tests (MBPP's `test_list`). Nothing is turned into text silently.

Then the ids: repeated ids are listed (`duplicate_ids: reject`, the default) or numbered in file
order, deterministically: id, id#2, id#3 … (`duplicate_ids: number`), so no two examples of a file
share an id. `FileCheck.problems()` applies the policy (`bad_rows`, `max_bad_fraction`) and says what
makes the task unusable; `FileCheck.warnings()` what was skipped or renamed.

Checked files are cached in the process by (path, size, mtime, format, fields, policy), so the
preflight, the Launch page and the loader read each file once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.tasks.base import DataError
from engine.tasks.readers import read_records

SHOWN = 5  # positions listed per reason before "and N more"
CACHE_SIZE = 16


@dataclass(frozen=True)
class FieldMap:
    """Which record field holds what (a custom task's *_field declarations)."""

    input: str
    target: str
    id: str | None = None
    test: str | None = None
    entry_point: str | None = None

    def needed(self) -> list[str]:
        """The fields every record must have, in a stable order without repeats."""
        names = [self.input, self.target, self.id, self.test, self.entry_point]
        return list(dict.fromkeys(n for n in names if n))


@dataclass(frozen=True)
class RowPolicy:
    """What to do with repeated ids and unusable rows (a custom task's declarations)."""

    duplicate_ids: str = "reject"  # reject | number
    bad_rows: str = "skip"  # skip | reject
    max_bad_fraction: float = 0.1  # skip: beyond this share of a file's rows the file is unusable


@dataclass(frozen=True)
class Row:
    """One usable row: its unique id, input and target text, and what its test program needs."""

    id: str
    input: str
    target: str
    meta: dict[str, Any] = field(default_factory=dict)


def positions(unit: str, numbers: list[int], shown: int = SHOWN) -> str:
    """'lines 3, 9, 14, 20, 31 and 74 more' (or 'line 3')."""
    head = ", ".join(str(n) for n in numbers[:shown])
    more = f" and {len(numbers) - shown} more" if len(numbers) > shown else ""
    return f"{unit}{'s' if len(numbers) > 1 else ''} {head}{more}"


@dataclass
class FileCheck:  # pylint: disable=too-many-instance-attributes
    """What one dataset file holds: rows found, the usable rows (ids unique unless the policy is
    reject), the rejected rows by reason, the repeated ids with their positions, ids renamed."""

    path: Path
    role: str  # "data" (the `path` file) | "eval" (the `eval_path` file)
    format: str
    unit: str  # line | record | row
    policy: RowPolicy
    rows: int = 0
    kept: list[Row] = field(default_factory=list)
    rejected: dict[str, list[int]] = field(default_factory=dict)
    duplicates: dict[str, list[int]] = field(default_factory=dict)
    numbered: int = 0

    @property
    def rejected_count(self) -> int:
        """Rows rejected, all reasons together."""
        return sum(len(v) for v in self.rejected.values())

    def rejected_text(self) -> str:
        """'empty target 'snippet': records 4, 9 and 2 more; non-text target 'snippet' (number): record 7'."""
        return "; ".join(f"{reason}: {positions(self.unit, rows)}" for reason, rows in self.rejected.items())

    def duplicates_text(self, shown: int = SHOWN) -> str:
        """''36875258' at records 1, 2; 'q7' at records 5, 6 and 3 more repeated ids'."""
        items = list(self.duplicates.items())
        text = "; ".join(f"'{key}' at {positions(self.unit, rows)}" for key, rows in items[:shown])
        return text + (f" and {len(items) - shown} more repeated ids" if len(items) > shown else "")

    def problems(self) -> list[tuple[str, str]]:
        """(what, fix) for each thing that makes this file unusable under the policy; none when usable."""
        what = "evaluation file" if self.role == "eval" else "data file"
        unit, rows, bad = self.unit, self.rows, self.rejected_count
        if rows == 0:
            return [(f"the {what} has no {unit}s", "add examples, or point the path at the right file")]
        out = []
        if not self.kept:
            out.append((f"all {rows} {unit}s rejected ({self.rejected_text()})",
                        "check that input_field and target_field name the right fields"))
        elif bad and self.policy.bad_rows == "reject":
            out.append((f"{bad} of {rows} {unit}s rejected ({self.rejected_text()})",
                        "fix or remove those rows, or set `bad_rows: skip` to leave them out"))
        elif bad and bad / rows > self.policy.max_bad_fraction:
            out.append((f"{bad} of {rows} {unit}s rejected ({bad / rows:.0%}, more than max_bad_fraction "
                        f"{self.policy.max_bad_fraction:g}): {self.rejected_text()}",
                        "check the field mapping; fix those rows, or raise max_bad_fraction to skip them"))
        if self.duplicates and self.policy.duplicate_ids == "reject":
            extra = sum(len(v) - 1 for v in self.duplicates.values())
            out.append((f"{len(self.duplicates)} ids repeat ({extra} {unit}s share an id with an earlier one): "
                        f"{self.duplicates_text()}",
                        "set `duplicate_ids: number` to number the repeats (id, id#2, …), choose an id_field "
                        "that is unique, or drop id_field (ids from the position)"))
        return out

    def warnings(self) -> list[str]:
        """What was left out or renamed while the file stays usable."""
        out = []
        if self.rejected and self.kept and not self.problems():
            out.append(f"{self.rejected_count} of {self.rows} {self.unit}s skipped: {self.rejected_text()}")
        if self.numbered:
            out.append(f"{self.numbered} repeated ids numbered ({self.duplicates_text(shown=3)})")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The report of this file, as plain data (for the preflight report and the Launch page)."""
        return {
            "path": str(self.path), "role": self.role, "format": self.format, "unit": self.unit,
            "rows": self.rows, "kept": len(self.kept), "rejected": self.rejected_count,
            "rejected_by_reason": {reason: {"count": len(rows), "first": rows[:SHOWN]}
                                   for reason, rows in self.rejected.items()},
            "duplicate_ids": {"ids": len(self.duplicates),
                              "rows": sum(len(v) - 1 for v in self.duplicates.values()),
                              "first": [{"id": k, "at": v[:SHOWN]} for k, v in list(self.duplicates.items())[:SHOWN]],
                              "numbered": self.numbered},
            "problems": [f"{what}. Fix: {fix}" for what, fix in self.problems()],
            "warnings": self.warnings(),
        }


# --- values --------------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "number"
    return {list: "list", dict: "object"}.get(type(value), type(value).__name__)


def _text(value: Any, role: str, name: str) -> tuple[str | None, str | None]:
    """(text, None) for usable text, else (None, the reason the row is rejected)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, f"empty {role} '{name}'"
    if not isinstance(value, str):
        return None, f"non-text {role} '{name}' ({_kind(value)})"
    return value, None


def _id(value: Any, name: str) -> tuple[str | None, str | None]:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    if isinstance(value, float) and value.is_integer():  # ints stored as floats (a column with nulls)
        return str(int(value)), None
    text, reason = _text(value, "id", name)
    return (text.strip() if text else None), reason


def _tests(value: Any, name: str, with_entry_point: bool) -> tuple[list[str] | str | None, str | None]:
    if isinstance(value, list) and not with_entry_point:
        if value and all(isinstance(v, str) and v.strip() for v in value):
            return list(value), None
        return None, f"{'empty' if not value else 'non-text'} tests '{name}'"
    return _text(value, "tests", name)


class _Checker:
    """Turns one file's records into Rows and rejected positions."""

    def __init__(self, check: FileCheck, fields: FieldMap, stem: str):
        self.check, self.fields, self.stem = check, fields, stem

    def row(self, position: int, record: dict[str, Any]) -> Row | str:
        """The usable row at `position`, or the reason it is rejected."""
        fields = self.fields
        unit = self.check.unit
        for name in fields.needed():
            if name not in record:
                present = ", ".join(sorted(map(str, record))) or "(none)"
                raise DataError(f"missing field '{name}'", file=self.check.path, line=position, unit=unit,
                                field_name=name, fix=f"add '{name}' to every {unit}, or map the field to one of "
                                f"those present: {present}")
        input_text, reason = _text(record[fields.input], "input", fields.input)
        target, target_reason = _text(record[fields.target], "target", fields.target)
        reason = reason or target_reason
        row_id = f"{self.stem}-{position}"
        if fields.id:
            found, id_reason = _id(record[fields.id], fields.id)
            reason, row_id = reason or id_reason, found or row_id
        meta: dict[str, Any] = {}
        if fields.test:
            tests, test_reason = _tests(record[fields.test], fields.test, bool(fields.entry_point))
            reason = reason or test_reason
            if fields.entry_point:
                entry, entry_reason = _text(record[fields.entry_point], "entry point", fields.entry_point)
                reason = reason or entry_reason
                meta = {"prompt": "", "test": tests, "entry_point": (entry or "").strip()}
            else:
                meta = {"test_setup_code": "", "test_list": tests if isinstance(tests, list) else [tests]}
        if reason:
            return reason
        assert input_text is not None and target is not None
        return Row(row_id, input_text.strip(), target.strip(), meta)

    def run(self, records: Iterable[tuple[int, dict[str, Any]]]) -> FileCheck:
        """Read every record, then find (and, under `number`, number) the repeated ids."""
        check = self.check
        where: dict[str, list[int]] = {}
        kept_at: list[int] = []
        for position, record in records:
            check.rows += 1
            outcome = self.row(position, record)
            if isinstance(outcome, str):
                check.rejected.setdefault(outcome, []).append(position)
                continue
            check.kept.append(outcome)
            kept_at.append(position)
            where.setdefault(outcome.id, []).append(position)
        check.duplicates = {key: at for key, at in where.items() if len(at) > 1}
        if check.duplicates and check.policy.duplicate_ids == "number":
            self._number(where)
        return check

    def _number(self, where: dict[str, list[int]]) -> None:
        taken = set(where)
        seen: dict[str, int] = {}
        for index, row in enumerate(self.check.kept):
            count = seen[row.id] = seen.get(row.id, 0) + 1
            if count == 1:
                continue
            candidate = f"{row.id}#{count}"
            while candidate in taken:  # an id that already reads like a numbered one
                count += 1
                candidate = f"{row.id}#{count}"
            seen[row.id] = count
            taken.add(candidate)
            self.check.kept[index] = Row(candidate, row.input, row.target, row.meta)
            self.check.numbered += 1


# --- the cache -----------------------------------------------------------------------------------

_CACHE: OrderedDict[Hashable, FileCheck] = OrderedDict()
_LOCK = threading.Lock()


def fingerprint(path: Path) -> tuple[Any, ...]:
    """(size, mtime) of a file, or of each file directly in a folder (a saved dataset)."""
    if path.is_dir():
        return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(path.iterdir()) if p.is_file())
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns)


def check_file(path: Path, fmt: str, role: str, fields: FieldMap, policy: RowPolicy) -> FileCheck:
    """The checked rows of `path` read as `fmt` (cached while the file is unchanged)."""
    try:
        key: Hashable = (str(path.resolve()), fingerprint(path), fmt, role, fields, policy)
    except OSError as exc:
        raise DataError("the file does not exist", file=path,
                        fix="give an absolute path, or one relative to the data directory") from exc
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    records = read_records(path, fmt, needed=fields.needed())
    check = _Checker(FileCheck(path, role, records.format, records.unit, policy), fields, path.stem).run(records.rows)
    with _LOCK:
        _CACHE[key] = check
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return check
