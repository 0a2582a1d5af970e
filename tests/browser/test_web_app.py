"""The coordinators' web app in a real headless Chromium: sign in, filter, a pair page, a chart, the CSV, accessibility."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from issuebot.app import create_app
from issuebot.config import load_program
from issuebot.providers import make_provider
from issuebot.reconcile import reconcile_program
from issuebot.service import open_service
from issuebot.sweep import sweep
from issuebot.templates import Templates
from tests.conftest import Clock, cohort, missing_service, write_program

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = Path(__file__).with_name("axe.min.js")
TOKEN = "browser-test-token"
TOKEN_ENV = "ISSUEBOT_BROWSER_TEST_TOKEN"
SECRET_ENV = "ISSUEBOT_BROWSER_TEST_SECRET"
PRIVATE_TEXT = "I am thinking of leaving the team"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1400")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small program (12 pairs, a third of them stale) served on a loopback port."""
    from werkzeug.serving import make_server

    folder = tmp_path_factory.mktemp("web")
    clock = Clock()
    data = cohort(12, {"kind": "local", "path": str(folder / "tracker.db")},
                  service={"webhook_secret_env": SECRET_ENV, "dashboard_token_env": TOKEN_ENV})
    for i, pair in enumerate(data["pairs"]):
        if i % 3 == 0:
            pair["starts"] = "2026-12-01"
    program = load_program(write_program(folder / "program.yml", data))
    provider = make_provider(program, clock)
    reconcile_program(provider, program, Templates(), trigger="sync", now=clock())
    sweep(provider, program, Templates(), now=clock())
    pair_project = provider.project_path(program.project_name(program.pairs[1]))
    provider.as_user(program.pairs[1].mentee.username).create_comment(pair_project, 1, PRIVATE_TEXT)
    old = {name: os.environ.get(name) for name in (TOKEN_ENV, SECRET_ENV)}
    os.environ.update({TOKEN_ENV: TOKEN, SECRET_ENV: "webhook-secret"})
    service = open_service(program, provider_factory=lambda _p: provider, clock=clock)
    server = make_server("127.0.0.1", 0, create_app(service), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        service.close()
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium (Debian's package, driven by its chromedriver) for the module."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        missing_service(f"no {CHROMIUM} and {CHROMEDRIVER} (Debian packages chromium, chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing_service("selenium is not installed (pip install -e '.[test]')")
    downloads = tmp_path_factory.mktemp("downloads")
    profile = tempfile.mkdtemp(prefix="issuebot-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.downloads = downloads
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def serious_violations(driver: Any) -> list[str]:
    """axe-core's serious and critical findings on the current page."""
    if not driver.execute_script("return typeof window.axe !== 'undefined'"):
        driver.execute_script(AXE.read_text(encoding="utf-8"))
    found = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations), e => done([{id: String(e),"
        " impact: 'critical', nodes: []}]));")
    return [f"{v['id']} ({v['impact']}): {[n.get('target') for n in v['nodes']][:3]}"
            for v in found if v["impact"] in ("serious", "critical")]


def checked(driver: Any, shots: Path, name: str) -> str:
    """The page's text after the accessibility and pair-text checks; a screenshot is kept for people."""
    driver.save_screenshot(str(shots / f"{name}.png"))
    assert serious_violations(driver) == [], name
    source = driver.page_source
    assert PRIVATE_TEXT not in source
    return source


def test_a_coordinator_signs_in_filters_opens_a_pair_follows_a_chart_and_downloads_the_csv(
        site: str, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("ISSUEBOT_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    wait = WebDriverWait(browser, 10)
    browser.get(site + "/dashboard")
    assert "/signin" in browser.current_url
    checked(browser, shots, "signin")
    browser.find_element(By.NAME, "username").send_keys("carol")
    browser.find_element(By.NAME, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form.signin button").click()
    wait.until(lambda d: d.current_url.endswith("/dashboard"))
    checked(browser, shots, "dashboard")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) == 12 and "stale" in rows[0].text and "Signed in as carol" in browser.page_source.replace("<strong>", "").replace("</strong>", "")

    browser.find_element(By.PARTIAL_LINK_TEXT, "kickoff:").click()  # a status chip filters the list
    wait.until(lambda d: "status=kickoff" in d.current_url)
    assert len(browser.find_elements(By.CSS_SELECTOR, "tbody tr")) == 8

    browser.find_element(By.CSS_SELECTOR, "tbody tr a").click()
    wait.until(lambda d: "/dashboard/pairs/" in d.current_url)
    page = checked(browser, shots, "pair")
    assert "Sessions" in page and "Snooze reminders 14 days" in page

    browser.find_element(By.LINK_TEXT, "Summary").click()
    wait.until(lambda d: d.current_url.endswith("/dashboard/summary"))
    checked(browser, shots, "summary")
    bar = browser.find_element(By.CSS_SELECTOR, "#chart-status a")
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))", bar)
    wait.until(lambda d: "status=" in d.current_url and "/dashboard?" in d.current_url)
    shown = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert shown and browser.find_element(By.CSS_SELECTOR, ".chips a[aria-current='true']").text.split(":")[0] in shown[0].text

    browser.get(site + "/dashboard?status=stale")
    browser.find_element(By.PARTIAL_LINK_TEXT, "Download CSV").click()
    target = browser.downloads / "pairs.csv"
    wait.until(lambda d: target.exists() and target.stat().st_size > 0)
    exported = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert len(exported) == 4 and {row["status"] for row in exported} == {"stale"}
    assert PRIVATE_TEXT not in target.read_text(encoding="utf-8")
