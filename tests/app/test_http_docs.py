"""Swagger UI and ReDoc are served from local assets and work in a real browser without internet: they render,
and Swagger UI's "Try it out" answers 200 on every operation with the examples it fills in."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import httpx
import pytest
from app_support import TestClient

from tests.support import LiveServer

ASSETS = [("/static/swagger-ui/swagger-ui-bundle.js", "javascript"), ("/static/swagger-ui/swagger-ui.css", "css"),
          ("/static/redoc/redoc.standalone.js", "javascript"), ("/static/swagger-ui/favicon-32x32.png", "png")]
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_load_only_local_assets(client: TestClient, page: str) -> None:
    html = client.get(page).text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
    assert urls and all(u.startswith("/") for u in urls), urls
    assert "cdn." not in html and "fonts.googleapis" not in html


@pytest.mark.parametrize(("path", "kind"), ASSETS)
def test_static_assets_are_served(client: TestClient, path: str, kind: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and kind in r.headers["content-type"] and len(r.content) > 500


def dump_dom(url: str) -> str:
    """The DOM after scripts ran, from headless Chromium (no network but the local server)."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", url],
            capture_output=True, timeout=120, check=True)
    return out.stdout.decode("utf-8", errors="replace")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install -y chromium); "
                                             "the browser rendering of /docs and /redoc is not checked")
@pytest.mark.parametrize(("page", "marker"), [
    ("/docs", 'class="opblock-summary-description">Value and gradients of a function<'),
    ("/redoc", ">Value and gradients of a function<"),
], ids=["swagger-ui", "redoc"])
@pytest.mark.slow
def test_docs_render_operations_in_headless_chromium(live: LiveServer, page: str, marker: str) -> None:
    dom = dump_dom(live.url + page)
    assert marker in dom, dom[:2000]
    assert "Register a function" in dom and "List the op set" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install -y chromium); "
                                             "Swagger UI's \"Try it out\" is not checked in a browser")
@pytest.mark.slow
def test_swagger_try_it_out_answers_200_on_every_operation(live: LiveServer) -> None:
    """Each operation as a user tries it: expand, "Try it out", "Execute" with the defaults Swagger UI fills in."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    paths = httpx.get(live.url + "/openapi.json").json()["paths"]
    documented = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
    answered = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(live.url + "/docs")
        operations = page.locator(".opblock")
        operations.first.wait_for()
        for i in range(operations.count()):
            operation = operations.nth(i)
            summary = operation.locator(".opblock-summary").first
            name = f"{summary.locator('.opblock-summary-method').inner_text()} " \
                   f"{summary.locator('.opblock-summary-path').inner_text()}"
            summary.click()
            operation.locator(".try-out__btn").click()
            operation.locator(".execute").click()
            status = operation.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for(timeout=30_000)
            answered[name] = status.inner_text().strip()
        browser.close()
    assert set(answered) == documented and set(answered.values()) == {"200"}, answered
