"""What a reader sees in a Snakemake HTML report, read from the page that headless Chromium
renders (Selenium and Debian's chromium-driver).

The report is a single-page app: its file holds every result as data inside <script>
tags, so searching the file proves nothing about what is shown. This module opens the page,
clicks every category and subcategory of the navigation bar as a reader would, opens each
listed result (eye button) and its information panel, and returns per result path:

* ``kind``: "img" (shown as an image), "html" (shown in a frame) or "download" (a link);
* ``ok``: the image decoded (natural width > 0), or the frame's document has content;
* ``tables``: for a frame, the ``id`` of every ``<table>`` in it;
* ``panel``: the text of the result's information panel (caption, size, rule).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

#: Debian's binaries (/usr/bin/chromium is a shell wrapper around the first).
CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 30


def browser_present() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


def _driver(profile: str) -> webdriver.Chrome:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",  # as root in a container the sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--no-first-run",
        "--window-size=1600,1200",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    # an explicit driver: otherwise Selenium Manager tries to download one
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def _nav(driver: webdriver.Chrome) -> WebElement:
    return driver.find_element(By.TAG_NAME, "nav")


def _rows(driver: webdriver.Chrome) -> list[WebElement]:
    return _nav(driver).find_elements(By.CSS_SELECTOR, "table tbody tr")


def _click_menu(driver: webdriver.Chrome, label: str) -> None:
    items = [
        a for a in _nav(driver).find_elements(By.CSS_SELECTOR, "li > a") if a.text.strip() == label
    ]
    if not items:
        raise AssertionError(f"no menu entry {label!r}: {_nav(driver).text!r}")
    _click(driver, items[0])  # a native click can land on the result pane that overlaps it


def _click(driver: webdriver.Chrome, element: WebElement) -> None:
    """Click as the page's own handler sees it, wherever the element is scrolled to."""
    driver.execute_script(
        "arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element
    )


def _row_path(driver: webdriver.Chrome, row: WebElement, paths: list[str]) -> str:
    """The result a listing row shows: its first cell is the path, or, for results with
    ``labels``, its cells are the label values."""
    cells = [td.text.strip() for td in row.find_elements(By.TAG_NAME, "td")[:-1]]
    for path in paths:
        labels = driver.execute_script("return results[arguments[0]].labels || {};", path)
        if cells == [str(value) for value in labels.values()] or cells[:1] == [path]:
            return path
    raise AssertionError(f"no result of {paths} matches the row {cells}")


def _inspect(driver: webdriver.Chrome, index: int, paths: list[str]) -> dict[str, Any]:
    row = _rows(driver)[index]
    path = _row_path(driver, row, paths)
    view = row.find_elements(By.CSS_SELECTOR, "td:last-child a")[0]
    found: dict[str, Any] = {"path": path}
    if view.get_attribute("download"):
        found.update(kind="download", ok=(view.get_attribute("href") or "").startswith("data:"))
    else:
        _click(driver, view)
        # wait until the app shows this result (its data URI), not the previous one
        shown = WebDriverWait(driver, WAIT).until(
            lambda d: d.execute_script(
                """const uri = results[arguments[0]].data_uri;
                   for (const el of document.querySelectorAll('img, iframe'))
                       if (el.getAttribute('src') === uri) return el;
                   return null;""",
                path,
            )
        )
        if shown.tag_name == "img":
            WebDriverWait(driver, WAIT).until(
                lambda d: d.execute_script("return arguments[0].complete;", shown)
            )
            width = driver.execute_script("return arguments[0].naturalWidth;", shown)
            found.update(kind="img", ok=bool(width))
        else:
            driver.switch_to.frame(shown)
            try:
                body = WebDriverWait(driver, WAIT).until(
                    expected_conditions.presence_of_element_located((By.TAG_NAME, "body"))
                )
                tables = {
                    t.get_attribute("id") or "": len(t.find_elements(By.CSS_SELECTOR, "th"))
                    for t in driver.find_elements(By.TAG_NAME, "table")
                }
                found.update(kind="html", ok=bool(body.text.strip()), tables=tables)
            finally:
                driver.switch_to.default_content()
    _click(driver, _rows(driver)[index].find_elements(By.CSS_SELECTOR, "td:last-child a")[1])
    WebDriverWait(driver, WAIT).until(lambda d: "snakemake rule" in _nav(d).text.lower())
    found["panel"] = _nav(driver).text
    return found


def rendered_results(report: Path) -> dict[str, dict[str, Any]]:
    """Every result that the rendered report lists, by path (see the module's docstring)."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    driver = _driver(profile)
    try:
        driver.get(report.resolve().as_uri())
        WebDriverWait(driver, WAIT).until(lambda d: "results" in _nav(d).text.lower())
        categories: dict[str, dict[str, list[str]]] = driver.execute_script("return categories;")
        results: dict[str, dict[str, Any]] = {}
        for category, subcategories in categories.items():
            driver.execute_script("app.setView({navbarMode: 'menu'});")
            _click_menu(driver, category)
            for subcategory in subcategories:
                if len(subcategories) > 1:
                    driver.execute_script("app.showCategory(arguments[0]);", category)
                    _click_menu(driver, subcategory)
                for index in range(len(_rows(driver))):
                    found = _inspect(driver, index, subcategories[subcategory])
                    found.update(category=category, subcategory=subcategory)
                    results[found["path"]] = found
                    driver.execute_script(  # back to the listing the panel replaced
                        "app.setView({navbarMode: 'subcategory', category: arguments[0],"
                        " subcategory: arguments[1]});",
                        category,
                        subcategory,
                    )
        return results
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
