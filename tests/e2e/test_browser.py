"""End to end in a real browser: serve the app on a fresh workspace, launch the quick-compare preset
(zero-shot, ST-LoRA, MT-LoRA; the tiny model stands in for the demo model) with one click, let the app
start its own worker, wait for the runs to finish, and check that Compare's verdict panel answers each
task with n and an interval. Saves a screenshot of every page (CODETUNE_SCREENSHOTS, default
artifacts/screenshots/; also docs/screenshots/ when CODETUNE_UPDATE_SCREENSHOTS=1).

Needs Chromium at /usr/bin/chromium and the `playwright` package (its driver; no browser download).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import api
from engine.settings import load_settings
from ui.formatting import number

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
RUN_TIMEOUT_S = 300
PAGE_TIMEOUT_MS = 90_000
VIEWPORT = {"width": 1440, "height": 1000}
QUICK_MODEL = "SmolLM2-135M-Instruct"  # the quick-compare preset's model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _screenshot_dirs() -> list[Path]:
    dirs = [Path(os.environ.get("CODETUNE_SCREENSHOTS") or ROOT / "artifacts" / "screenshots")]
    if os.environ.get("CODETUNE_UPDATE_SCREENSHOTS") == "1":
        dirs.append(ROOT / "docs" / "screenshots")
    for folder in dirs:
        folder.mkdir(parents=True, exist_ok=True)
    return dirs


@pytest.fixture()
def served(tmp_path, data_dir) -> Iterator[tuple[str, dict[str, str]]]:
    """`streamlit run app.py` on a free port with a fresh workspace; stops it and its worker after."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="pip install playwright (no browser download needed)")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "CODETUNE_HOME": str(home),
        "CODETUNE_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "CODETUNE_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    env.pop("CODETUNE_RUNS_DIR", None)
    env.pop("CODETUNE_DB", None)
    port = _free_port()
    log = open(tmp_path / "streamlit.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("streamlit did not come up:\n" + (tmp_path / "streamlit.log").read_text())
            time.sleep(0.3)
        yield url, env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        _stop_workers(load_settings(env))


def _stop_workers(cfg) -> None:
    """Stop the worker(s) the app started (from the workspace's worker registry)."""
    pids = [w["pid"] for w in api.workers(cfg) if isinstance(w.get("pid"), int)]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    deadline = time.time() + 15
    for pid in pids:
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _ready(page, settle_s: float = 1.0) -> None:
    """Wait until the script finished, every widget rendered and the charts had time to draw."""
    page.wait_for_selector("h1", timeout=PAGE_TIMEOUT_MS)
    time.sleep(0.3)
    page.wait_for_selector('[data-test-script-state="notRunning"]', timeout=PAGE_TIMEOUT_MS)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=PAGE_TIMEOUT_MS)
    time.sleep(settle_s)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def _shoot(page, name: str, dirs: list[Path]) -> None:
    page.mouse.move(0, 0)  # no tooltip in the picture
    time.sleep(0.3)
    page.screenshot(path=str(dirs[0] / f"{name}.png"))
    for folder in dirs[1:]:
        shutil.copy(dirs[0] / f"{name}.png", folder / f"{name}.png")


def _shoot_tall(page, name: str, dirs: list[Path], height: int = 3200) -> None:
    """The whole page at 1440 px wide (Streamlit scrolls inside its main block, so a full-page
    screenshot would stop at the viewport): a tall viewport for one picture, then back."""
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    time.sleep(1.0)  # charts re-layout to the new size
    _shoot(page, name, dirs)
    page.set_viewport_size(VIEWPORT)


def _open(page, url: str, title: str) -> None:
    page.goto(url)
    _ready(page)
    assert page.locator("h1").first.inner_text().strip() == title


def _table_text(page, index: int = 0) -> str:
    """The visible cells of a st.dataframe (its grid keeps an accessible copy of them in the DOM)."""
    frame = page.locator('[data-testid="stDataFrame"]').nth(index)
    return "\n".join(frame.locator('[data-testid^="glide-cell"]').all_text_contents())


def _wait_for_run(cfg, run_id: str) -> dict:
    deadline = time.time() + RUN_TIMEOUT_S
    while time.time() < deadline:
        row = next((r for r in api.list_runs(cfg) if r["run_id"] == run_id), None)
        if row and row["state"] in ("done", "failed", "cancelled"):
            return row
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish within {RUN_TIMEOUT_S} s; log:\n{api.log_tail(run_id, 60, cfg)}")


def _wait_for_runs(cfg, count: int) -> list[dict]:
    """Every run of the workspace once `count` of them exist and all have finished."""
    deadline = time.time() + RUN_TIMEOUT_S
    rows: list[dict] = []
    while time.time() < deadline:
        rows = api.list_runs(cfg)
        if len(rows) >= count and all(r["state"] in ("done", "failed", "cancelled") for r in rows):
            return rows
        time.sleep(2)
    logs = "\n".join(api.log_tail(r["run_id"], 40, cfg) for r in rows)
    raise AssertionError(f"runs did not finish within {RUN_TIMEOUT_S} s: {rows}\n{logs}")


def test_launch_watch_compare_in_a_browser(served, tiny_model):
    """A first visit: the Launch page opens on the quick-compare preset; one click queues zero-shot,
    ST-LoRA and MT-LoRA; the app starts its worker; Runs follows them; Compare's verdict panel then
    answers per task with n and an interval. The demo model is stood in for by the tiny model (copied
    under the demo model's name into the workspace's models folder) so that the test takes minutes."""
    from playwright.sync_api import sync_playwright

    url, env = served
    cfg = load_settings(env)
    dirs = _screenshot_dirs()
    stand_in = cfg.models_dir / QUICK_MODEL
    shutil.copytree(tiny_model, stand_in)
    config = json.loads((stand_in / "config.json").read_text())
    config["max_position_embeddings"] = 8192  # SmolLM2's context: the longest summarisation prompt fits
    (stand_in / "config.json").write_text(json.dumps(config))
    quick = api.preset_data("quick-compare")
    tasks = [t["name"] for t in quick["tasks"]]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        try:
            # A fresh server's first visit going straight to a page still gets the whole app
            _open(page, f"{url}/runs", "Runs")
            assert "Workspace" in page.locator('[data-testid="stSidebar"]').inner_text()
            assert "No runs yet" in page.locator('[data-testid="stMain"]').inner_text()

            # Launch: the quick comparison is the preset on first open, already in the form
            _open(page, url, "Launch")
            main = page.locator('[data-testid="stMain"]').inner_text()
            assert "expands to 3 run(s): MT-LoRA, ST-LoRA, zero-shot" in main, main[-2000:]
            _shoot(page, "launch", dirs)
            assert not api.workers(cfg), "no worker may run before the app starts one"
            page.get_by_role("button", name="Submit", exact=True).click()
            page.get_by_text("Queued 3 new run").wait_for(timeout=PAGE_TIMEOUT_MS)
            _ready(page, 0.3)
            runs = [p.name for p in cfg.runs_dir.iterdir() if not p.name.startswith(".")]
            assert len(runs) == 3, runs
            deadline = time.time() + 60  # the worker registers once its process is up
            while not api.workers(cfg) and time.time() < deadline:
                time.sleep(0.5)
            assert api.workers(cfg), "submitting did not start a worker"
            _shoot(page, "launch-submitted", dirs)

            # Runs, opened while the runs are queued or running: it follows them without a reload
            _open(page, f"{url}/runs", "Runs")
            live = page.locator('[data-testid="stMain"]').inner_text()
            assert any(run_id in live for run_id in runs)
            rows = _wait_for_runs(cfg, 3)
            for row in rows:
                why = json.dumps(row.get("error"), indent=1) + api.log_tail(row["run_id"], 60, cfg)
                assert row["state"] == "done", why
            mt = next(r["run_id"] for r in rows if r.get("label", "").startswith("MT"))
            metrics = json.loads((cfg.runs_dir / mt / "metrics.json").read_text())["tasks"]
            # no reload: the fragments refresh themselves, then the queue's fragment, seeing nothing
            # active any more, reruns the whole page, which stops polling
            page.get_by_text("Refreshing every").wait_for(state="detached", timeout=90_000)
            _ready(page)
            text = page.locator('[data-testid="stMain"]').inner_text()
            assert "MT-LoRA" in text and "ST-LoRA" in text and "done" in text
            _shoot(page, "runs", dirs)
            _shoot_tall(page, "runs-full", dirs)
            page.get_by_role("tab", name="Events").click()
            _ready(page, 0.5)
            _shoot_tall(page, "runs-events", dirs, 2000)
            timeline = page.locator('[data-testid="stTable"]').last.inner_text()  # the Events tab's timeline
            assert "phase start" in timeline and "None" not in timeline and "[" not in timeline, timeline
            page.get_by_role("tab", name="Log").click()
            _ready(page, 0.5)
            _shoot_tall(page, "runs-log", dirs, 2000)
            # a run that trained: its Spec tab says how
            page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text("run", exact=True)).click()
            page.get_by_role("option").filter(has_text="MT-LoRA").first.click()
            _ready(page, 0.5)
            page.get_by_role("tab", name="Spec").click()
            _ready(page, 0.5)
            _shoot_tall(page, "runs-spec", dirs, 2000)
            assert "Trained on the fast path" in page.locator('[data-testid="stMain"]').inner_text()

            # Compare: the study's verdict per task, with n and an interval, then the values
            _open(page, f"{url}/compare", "Compare")
            main = page.locator('[data-testid="stMain"]').inner_text()
            assert "Verdict" in main, main[:3000]
            for task in tasks:
                readings = [line for line in main.splitlines() if f" on {task}:" in line]
                assert readings, (task, main[:4000])
                for line in readings:
                    assert re.search(r"n = \d+", line) and re.search(r"\[[^\]]+, [^\]]+\]", line), line
            cells = "\n".join(_table_text(page, i) for i in range(page.locator('[data-testid="stDataFrame"]').count()))
            value = metrics["gen-python"]["codebleu"]
            assert any(t in cells + main for t in (number(value), f"{value:.3f}", f"{value:.2f}")), (value, cells)
            _shoot(page, "compare", dirs)
            _shoot_tall(page, "compare-full", dirs, 4200)

            # Quality, Samples, Data: they render, without errors
            _open(page, f"{url}/quality", "Quality")
            _shoot(page, "quality", dirs)
            page.get_by_text("Glossary — what the codes").click()
            _ready(page, 0.5)
            page.get_by_label("search the glossary").fill("C0116")
            page.get_by_label("search the glossary").press("Enter")
            _ready(page, 0.5)
            assert "missing-function-docstring" in page.locator('[data-testid="stMain"]').inner_text() + "".join(
                _table_text(page, i) for i in range(page.locator('[data-testid="stDataFrame"]').count())
            )
            _shoot_tall(page, "quality-full", dirs, 4200)
            _open(page, f"{url}/samples", "Samples")
            text = page.locator('[data-testid="stMain"]').inner_text()
            assert "Prompt" in text and "Reference" in text and "LoRA" in text, text[:3000]
            _shoot(page, "samples", dirs)
            _shoot_tall(page, "samples-full", dirs)
            _open(page, f"{url}/data", "Data")
            assert "374" in _table_text(page, 0)
            _shoot(page, "data", dirs)
        finally:
            browser.close()
