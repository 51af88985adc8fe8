"""Benchmark: how long each dashboard page takes to render, in Streamlit's AppTest, on a big store.

Builds (or reuses, with --home) a synthetic workspace of N runs × M samples the way
bench/bench_store.py does (real run directories from store.synthetic, ingested by store.ingest, a
study over the first 40 runs), then renders every page of app.py in AppTest and times it:

* cold:   the page's first render in this process, every Streamlit cache empty (what the first
          visitor after a start, or after the store changed, waits for);
* fresh:  the median of --repeat renders with st.cache_data cleared before each (every query runs
          again, DuckDB and the OS page cache are warm): a page load after an ingest;
* cached: the median of --repeat reruns with the caches kept: a rerun when nothing changed
          (a widget interaction), which costs the store sync and the drawing only.

Each render includes what app.py does on every load: the sidebar and the store sync (a no-op
ingest here). Extra rows time the Compare page's paired tests (the button) and opening one sample.

    python bench/bench_pages.py [--runs 200] [--samples 5000] [--home DIR] [--repeat 3] [--out FILE.json]

--home reuses (or creates and keeps) a workspace; without it a temporary one is built and removed.
Prints a table and checks the goal (every page ≤ 2 s, cold included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
for entry in (PROJECT_ROOT, PROJECT_ROOT / "bench"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

GOAL_S = 2.0
PAGES = ("launch", "runs", "compare", "quality", "samples", "data")
APP = str(PROJECT_ROOT / "app.py")
TIMEOUT_S = 600


def prepare(home: Path, n_runs: int, n_samples: int) -> dict[str, Any]:
    """Synthesise and ingest the workspace unless `home` already holds one; returns what was done."""
    from bench_store import synthesize

    from engine.settings import load_settings
    from store import ingest

    settings = load_settings({"CODETUNE_HOME": str(home)})
    info: dict[str, Any] = {"home": str(home)}
    existing = (
        [p for p in settings.runs_dir.iterdir() if not p.name.startswith(".")] if settings.runs_dir.is_dir() else []
    )
    if existing:
        info["reused_runs"] = len(existing)
    else:
        started = time.perf_counter()
        synth = synthesize(home, n_runs, n_samples)
        info["write_s"] = time.perf_counter() - started
        info["bytes_run_dirs"] = synth["bytes_run_dirs"]
    started = time.perf_counter()
    report = ingest.ingest_all(settings)
    info["ingest_s"] = time.perf_counter() - started
    info["runs"] = report.runs_seen
    info["db_bytes"] = settings.db_path.stat().st_size
    return info


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def _check(at: Any, what: str) -> None:
    if at.exception:
        raise RuntimeError(f"{what} raised: {[e.value for e in at.exception]}")


def _open(page: str) -> Any:
    """A fresh AppTest session showing `page` (the switch itself is not timed)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.run()
    if page != "launch":
        at.switch_page(f"pages/{page}.py")
    return at


def time_page(page: str, repeat: int) -> dict[str, Any]:
    """cold / fresh / cached render times of one page."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    if page == "launch":
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
        cold = _timed(at.run)
    else:
        at = _open(page)
        st.cache_data.clear()
        st.cache_resource.clear()
        cold = _timed(at.run)
    _check(at, page)
    fresh = []
    for _ in range(repeat):
        st.cache_data.clear()
        fresh.append(_timed(at.run))
        _check(at, page)
    cached = []
    for _ in range(repeat):
        cached.append(_timed(at.run))
        _check(at, page)
    return {
        "page": page,
        "cold_s": cold,
        "fresh_s": statistics.median(fresh),
        "cached_s": statistics.median(cached),
        "fresh_all_s": fresh,
        "cached_all_s": cached,
    }


def time_actions(repeat: int) -> list[dict[str, Any]]:
    """The heavier interactions: the Compare page's paired tests, and opening a sample."""
    import streamlit as st

    out = []
    at = _open("compare")
    at.run()
    button = [b for b in at.button if b.key == "compare.run_tests"]
    if button:
        label = button[0].label
        times = []
        for _ in range(repeat):
            st.cache_data.clear()
            at.session_state["compare.paired"] = None
            times.append(_timed(lambda: at.button(key="compare.run_tests").click().run()))
            _check(at, "paired tests")
        out.append(
            {
                "page": f"compare: {label.lower()}",
                "cold_s": times[0],
                "fresh_s": statistics.median(times),
                "cached_s": None,
                "fresh_all_s": times,
                "cached_all_s": [],
            }
        )
    at = _open("samples")
    at.run()
    keys = at.selectbox(key="samples.open").options
    if len(keys) > 1:
        times = []
        for i in range(repeat):
            st.cache_data.clear()
            times.append(
                _timed(lambda i=i: at.selectbox(key="samples.open").select_index(1 + i % (len(keys) - 1)).run())
            )
            _check(at, "open a sample")
        out.append(
            {
                "page": "samples: open another sample",
                "cold_s": times[0],
                "fresh_s": statistics.median(times),
                "cached_s": None,
                "fresh_all_s": times,
                "cached_all_s": [],
            }
        )
    return out


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:6.2f}"


def report(rows: list[dict[str, Any]]) -> bool:
    """Print the table; True when every page meets the goal."""
    print(f"\n{'page':34} {'cold s':>8} {'fresh s':>8} {'cached s':>9}  goal ≤ {GOAL_S:.0f} s")
    ok_all = True
    for row in rows:
        worst = max(v for v in (row["cold_s"], row["fresh_s"], row["cached_s"]) if v is not None)
        ok = worst <= GOAL_S
        ok_all &= ok or row["page"].startswith("compare: run")  # the paired tests are an explicit action
        print(
            f"{row['page']:34} {_fmt(row['cold_s']):>8} {_fmt(row['fresh_s']):>8} {_fmt(row['cached_s']):>9}  "
            f"{'ok' if ok else 'SLOW'}"
        )
    return ok_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--samples", type=int, default=5000, help="samples per run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--home", type=Path, help="workspace to reuse (or create and keep)")
    parser.add_argument("--data-dir", type=Path, default=PROJECT_ROOT.parent / "shared" / "data")
    parser.add_argument("--pages", nargs="*", default=list(PAGES), choices=PAGES)
    parser.add_argument("--out", type=Path, help="write every number as JSON")
    args = parser.parse_args(argv)

    temporary = args.home is None
    home = args.home or Path(tempfile.mkdtemp(prefix="bench-pages-")) / "home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "CODETUNE_HOME": str(home.resolve()),
            "CODETUNE_DATA_DIR": str(args.data_dir.resolve()),
            "HF_HUB_OFFLINE": "1",
            "CODETUNE_OFFLINE": "1",
        }
    )
    for name in ("CODETUNE_RUNS_DIR", "CODETUNE_DB"):
        os.environ.pop(name, None)
    try:
        print(f"workspace {home}: preparing {args.runs} runs × {args.samples} samples (reused if present)…")
        store = prepare(home, args.runs, args.samples)
        print(json.dumps(store))
        rows = []
        for page in args.pages:
            row = time_page(page, args.repeat)
            print(
                f"  {page}: cold {row['cold_s']:.2f} s, fresh {row['fresh_s']:.2f} s, cached {row['cached_s']:.2f} s",
                flush=True,
            )
            rows.append(row)
        if {"compare", "samples"} <= set(args.pages):
            rows.extend(time_actions(args.repeat))
        ok = report(rows)
        if args.out:
            args.out.write_text(
                json.dumps(
                    {
                        "store": store,
                        "runs": args.runs,
                        "samples": args.samples,
                        "repeat": args.repeat,
                        "goal_s": GOAL_S,
                        "pages": rows,
                        "cpus": os.cpu_count(),
                        "load": os.getloadavg(),
                    },
                    indent=2,
                )
            )
        return 0 if ok else 1
    finally:
        if temporary:
            shutil.rmtree(home.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
