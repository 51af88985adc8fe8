"""Helpers for the dashboard's AppTests: open one page of the app, collect what a page shows."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
TIMEOUT_S = 60


def open_page(page: str | None = None, timeout: float = TIMEOUT_S) -> AppTest:
    """Run the app (sidebar, sync) and switch to `page` ('runs', 'compare', ...; None = Launch)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    return at


def texts_of(at: AppTest) -> str:
    """Every text the page shows (markdown, captions, alerts, code, metrics, tables) as one string."""
    parts: list[str] = []
    for kind in ("markdown", "caption", "error", "warning", "info", "success", "code", "title", "subheader"):
        parts.extend(str(e.value) for e in getattr(at, kind))
    parts.extend(f"{m.label} {m.value}" for m in at.metric)
    for frame in at.dataframe:
        parts.append(frame.value.to_string())
    return "\n".join(parts)
