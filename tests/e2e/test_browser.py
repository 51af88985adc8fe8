"""End to end in a real browser: serve the app, launch a run from the Launch page's YAML editor on a
tiny local model, let the app start its own worker, wait for the run to finish, and check that
Compare shows its metrics. Saves a screenshot of every page (CODETUNE_SCREENSHOTS, default
artifacts/screenshots/; also docs/screenshots/ when CODETUNE_UPDATE_SCREENSHOTS=1).

Needs Chromium at /usr/bin/chromium and the `playwright` package (its driver; no browser download).
"""

from __future__ import annotations

import contextlib
import json
import os
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
import yaml

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


def test_launch_watch_compare_in_a_browser(served, tiny_model):
    from playwright.sync_api import sync_playwright

    url, env = served
    cfg = load_settings(env)
    dirs = _screenshot_dirs()
    spec = {
        "name": "browser test",
        "model": {"id": str(tiny_model)},
        "method": "lora",
        "tasks": [{"name": "gen-python"}, {"name": "sum-java"}],
        "train": {"max_steps": 2, "batch_size": 2, "grad_accum": 1, "max_length": 256, "save_steps": 50},
        "eval": {"limit": 2, "max_new_tokens": 8, "batch_size": 4},
        "resources": {"device": "cpu"},
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        try:
            # A fresh server's first visit going straight to a page still gets the whole app
            _open(page, f"{url}/runs", "Runs")
            assert "Workspace" in page.locator('[data-testid="stSidebar"]').inner_text()
            assert "No runs yet" in page.locator('[data-testid="stMain"]').inner_text()

            # Launch: the form first (screenshot), then the YAML editor
            _open(page, url, "Launch")
            _shoot(page, "launch", dirs)
            assert not api.workers(cfg), "no worker may run before the app starts one"
            page.get_by_text("YAML (advanced)", exact=True).click()
            _ready(page, 0.3)
            editor = page.get_by_label("spec (YAML)")
            editor.fill(yaml.safe_dump(spec, sort_keys=False))
            editor.press("Control+Enter")
            _ready(page, 0.3)
            page.get_by_role("button", name="Submit", exact=True).click()
            page.get_by_text("Queued 1 new run").wait_for(timeout=PAGE_TIMEOUT_MS)
            _ready(page, 0.3)
            runs = [p.name for p in cfg.runs_dir.iterdir() if not p.name.startswith(".")]
            assert len(runs) == 1
            run_id = runs[0]
            assert run_id in page.locator('[data-testid="stMain"]').inner_text()
            deadline = time.time() + 60  # the worker registers once its process is up
            while not api.workers(cfg) and time.time() < deadline:
                time.sleep(0.5)
            assert api.workers(cfg), "submitting did not start a worker"
            _shoot(page, "launch-submitted", dirs)

            # Runs, opened while the run is queued or running: it follows the run without a reload
            _open(page, f"{url}/runs", "Runs")
            live = page.locator('[data-testid="stMain"]').inner_text()
            assert run_id in live
            row = _wait_for_run(cfg, run_id)
            assert row["state"] == "done", json.dumps(row.get("error"), indent=1) + api.log_tail(run_id, 60, cfg)
            metrics = json.loads((cfg.runs_dir / run_id / "metrics.json").read_text())["tasks"]
            # no reload: the run's fragment refreshes itself, then the queue's fragment, seeing nothing
            # active any more, reruns the whole page, which stops polling
            page.get_by_text("overall 100%").wait_for(timeout=30_000)
            page.get_by_text("Refreshing every").wait_for(state="detached", timeout=60_000)
            _ready(page)
            text = page.locator('[data-testid="stMain"]').inner_text()
            assert "MT-LoRA" in text and "done" in text and run_id in text  # the run's details below the queue
            assert "tiny-llama MT-LoRA" in _table_text(page, 0)
            _shoot(page, "runs", dirs)

            # Compare: the run's metrics, side by side
            _open(page, f"{url}/compare", "Compare")
            cells = _table_text(page, 0)
            assert "pass@1" in cells and "bleu" in cells, cells
            for task, metric in (
                ("gen-python", "pass@1"),
                ("gen-python", "codebleu"),
                ("sum-java", "bleu"),
                ("sum-java", "chrf"),
            ):
                assert number(metrics[task][metric]) in cells, (task, metric, metrics[task][metric], cells)
            assert "MT-LoRA" in page.locator('[data-testid="stMain"]').inner_text() + cells
            _shoot(page, "compare", dirs)

            # Quality, Samples, Data: they render, without errors
            _open(page, f"{url}/quality", "Quality")
            _shoot(page, "quality", dirs)
            _open(page, f"{url}/samples", "Samples")
            text = page.locator('[data-testid="stMain"]').inner_text()
            assert "Prompt" in text and "Reference" in text and "tiny-llama MT-LoRA" in text
            _shoot(page, "samples", dirs)
            _open(page, f"{url}/data", "Data")
            assert "374" in _table_text(page, 0)
            _shoot(page, "data", dirs)
        finally:
            browser.close()
