"""Screenshots of every page against an existing workspace (for the README), in headless Chromium.

    CODETUNE_HOME=/path/to/workspace python scripts/screenshots.py [--out docs/screenshots]

Serves the app on a free 127.0.0.1 port, syncs the store, visits each page, waits for Streamlit to
finish rendering, saves <page>.png, and stops the server. (The end-to-end test takes the same kind
of screenshots of its own tiny run.)
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("launch", "runs", "compare", "quality", "samples", "data")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--settle", type=float, default=4.0, help="seconds to wait after the page stops running")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
                               "--server.port", str(port), "--server.headless", "true"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            for name in PAGES:
                page.goto(f"http://127.0.0.1:{port}/{'' if name == 'launch' else name}")
                page.wait_for_selector("[data-testid='stSidebar']", timeout=90_000)
                deadline = time.time() + 120
                while time.time() < deadline and page.query_selector("[data-testid='stStatusWidget']"):
                    time.sleep(0.5)
                time.sleep(args.settle)
                page.screenshot(path=str(out / f"{name}.png"), full_page=False)
                print(f"saved {out / name}.png")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("CODETUNE_OFFLINE", "1")
    sys.exit(main())
