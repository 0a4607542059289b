"""Screenshots of every console page into docs/console/*.png (`python scripts/screenshots.py`).

The same set-up as the browser test (tests/console_demo.py): a small CRM policy registered in a
temporary state folder, `autoresolve serve` on a free loopback port, some traffic, then headless
Chromium logs in and photographs each page at a laptop's size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.console_demo import chromium, log_in, register_policy, send_traffic, serve  # noqa: E402

PAGES = {
    "login": "/console/login",
    "queue": "/console/queue",
    "audits": "/console/audits",
    "policy": "/console/policy",
    "report": "/console/report",
}


def full_page(browser, path: Path, width: int) -> None:
    """The whole page, not just the window: the window grows to the document's height."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(max(int(height) + 40, 600), 4000))
    browser.save_screenshot(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--records", type=int, default=30000, help="training records")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        register_policy(home, n=args.records)
        with serve(home) as client, chromium(args.width, 900) as browser:
            send_traffic(client, n=400)
            base = str(client.base_url)
            browser.get(base + PAGES["login"])
            full_page(browser, args.out / "login.png", args.width)
            log_in(browser, base)
            for name, path in PAGES.items():
                if name == "login":
                    continue
                browser.set_window_size(args.width, 900)
                browser.get(base + path)
                full_page(browser, args.out / f"{name}.png", args.width)
                print(args.out / f"{name}.png")


if __name__ == "__main__":
    main()
