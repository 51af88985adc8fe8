"""`codetune report STUDY|RUN... --out DIR`: bring the store up to date, then write the report of a
study (its finished runs, one column per configuration and model size) or of the runs named (one
column each) into DIR (ui.report.files lists what it holds). An unknown study or run id, or nothing
finished, exits 2 with what to give instead.

Imports here are light (argparse only): the store, pandas and matplotlib load when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from engine.settings import Settings


def add_parser(sub: Any) -> None:
    """Register `report` on the `codetune` subparsers."""
    p = sub.add_parser("report", help="write a report of a study or runs: HTML, CSV, LaTeX tables, figures")
    p.add_argument("targets", nargs="+", metavar="STUDY|RUN",
                   help="a study id or name, or one or more run ids (unique prefixes and reference run names too)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write report.html and the rest into")
    p.add_argument("--baseline", help="the column the verdicts compare against: a run id, a column label or a "
                   "configuration (default: zero-shot, else the first column)")
    p.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of each interval")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Implement `codetune report`."""
    import functools

    from store import db, ingest, queries
    from ui.report import build, files

    ingest.ingest_all(settings)  # the store must know the latest runs
    query = functools.partial(queries.run_query, db.Reader(settings))
    try:
        selection = build.resolve(query, args.targets, args.baseline)
    except build.ReportTargetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = build.gather(query, selection, settings, resamples=args.resamples, seed=args.seed)
    out = Path(args.out)
    written = files.write(files.render(data), out)
    columns = list(dict.fromkeys(selection.columns.values()))
    print(f"report of {selection.title}: {len(columns)} column(s) ({', '.join(columns)}), "
          f"baseline {selection.baseline}")
    for table in data.tables():
        if not table.available:
            print(f"  {table.name}: {table.note or 'no rows'}")
    for left in selection.left_out:
        print(f"  left out (not finished): {left}")
    print(f"wrote {len(written)} files to {out}: open {out / 'report.html'}")
    return 0
