"""The console in a real browser: headless Chromium against `autoresolve serve` over loopback.

Log in through the form, label three records with their first candidate (one click each), see
the queue shrink by three, and find the three labels stored (the API answers `unchanged` when
the same labels are posted again). Skips, saying what to install, only where Debian's chromium
and chromium-driver are missing (`make test` installs them through `make browser`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.console_demo import (
    BrowserUnavailable,
    H,
    chromium,
    log_in,
    register_policy,
    send_traffic,
    serve,
)
from tests.support import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    try:
        with chromium() as b:
            yield b
    except BrowserUnavailable as exc:
        pytest.skip(f"console browser test skipped: {exc}")


@pytest.fixture(scope="module")
def server(tmp_path_factory, browser):
    home: Path = tmp_path_factory.mktemp("console")
    assert register_policy(home) == "1"
    with serve(home) as client:
        send_traffic(client)
        yield client


def queue_total(client) -> int:
    return client.get("/v1/deferred", headers=H, params={"limit": 1}).json()["total"]


def test_log_in_label_three_records_and_see_the_queue_shrink(browser, server):
    from selenium.webdriver.common.by import By

    before = queue_total(server)
    assert before >= 3, "the demo traffic left too few deferred records"
    log_in(browser, str(server.base_url))
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert f"{before} records" in heading
    labelled: list[dict[str, str]] = []
    for n in range(1, 4):
        first = browser.find_element(By.CSS_SELECTOR, "article.record")
        rid = first.get_attribute("data-record-id")
        button = first.find_element(By.CSS_SELECTOR, "button[data-first-candidate]")
        form = button.find_element(By.XPATH, "./ancestor::form")
        chosen = form.find_element(By.NAME, "resolution").get_attribute("value")
        button.click()
        wait_until(
            lambda rid=rid: f"Labelled {rid}" in browser.find_element(By.TAG_NAME, "main").text,
            what=f"the confirmation for {rid}",
        )
        shown = [a.get_attribute("data-record-id") for a in browser.find_elements(
            By.CSS_SELECTOR, "article.record")]  # fmt: skip
        assert rid not in shown
        assert f"{before - n} record" in browser.find_element(By.TAG_NAME, "h1").text
        labelled.append({"record_id": rid, "resolution": chosen})
    assert queue_total(server) == before - 3
    again = server.post("/v1/labels", json={"labels": labelled}, headers=H).json()
    stored = {k: again[k] for k in ("inserted", "updated", "unchanged")}
    assert stored == {"inserted": 0, "updated": 0, "unchanged": 3}


def test_every_page_opens_and_the_keyboard_reaches_the_labels(browser, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base = str(server.base_url)
    log_in(browser, base)
    for path, heading in (("policy", "Serving policy"), ("report", "Report")):
        browser.get(f"{base}/console/{path}")
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith(heading)
    browser.get(f"{base}/console/queue")
    body = browser.find_element(By.TAG_NAME, "body")
    reached = set()
    for _ in range(40):  # tab through the page: the skip link, the nav, then the records' forms
        body.send_keys(Keys.TAB)
        active = browser.switch_to.active_element
        reached.add(active.tag_name + ":" + (active.get_attribute("class") or ""))
        body = active
    assert any(re.match(r"button:candidate", r) for r in reached)
    assert any(r.startswith("select:") for r in reached)
