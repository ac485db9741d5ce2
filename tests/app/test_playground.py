"""The playground at ``/`` works in a real browser: Playwright driving Debian's Chromium, no internet.

Playwright cannot download its own browsers here, so it launches the system
``chromium`` (``executable_path``); the test is skipped when either is missing.
"""

from __future__ import annotations

import re
import shutil
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import ROOT, SEED, SEED_ANSWER, SEED_ARGS, SEED_GRADIENTS, SEED_VALUE, serve

pytestmark = pytest.mark.slow  # a served app driven in headless Chromium (Playwright)

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
SEED_TEXT = SEED["expression"]
SEED_ARG_TEXTS = [str(a) for a in SEED_ARGS]
SCREENSHOT = ROOT / "docs" / "playground.png"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve() as server:
        yield server.url


def test_page_loads_only_local_assets(url: str) -> None:
    html = httpx.get(url + "/").text
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", html)
    assert urls and all(u.startswith("/") for u in urls), urls
    for u in urls:
        if u.startswith("/static/"):
            assert httpx.get(url + u).status_code == 200, u


def test_trailing_slash_is_the_same_route(url: str) -> None:
    r = httpx.post(url + "/v1/value-and-gradients/", json={"function": SEED, "args": SEED_ARGS})
    assert r.status_code == 200 and r.json() == SEED_ANSWER


# -------------------------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the dev extra)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, url: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    outside: list[str] = []
    pg.on("request", lambda r: None if r.url.startswith(url) else outside.append(r.url))
    pg.goto(url + "/")
    pg.wait_for_function("document.getElementById('status').textContent === 'done'")  # the seed, on load
    yield pg
    context.close()
    assert not outside, f"the page requested outside URLs: {outside}"


def evaluate(page: Any, expression: str, inputs: str, args: list[str]) -> None:
    page.fill("#expression", expression)
    page.fill("#inputs", inputs)
    for i, a in enumerate(args):
        page.fill(f"#arg-{i}", a)
    page.evaluate("document.getElementById('status').textContent = ''")  # not the last evaluation's "done"
    page.click("#run")
    page.wait_for_function("document.getElementById('status').textContent === 'done' || "
                           "!document.getElementById('problem').hidden")


def numbers(page: Any) -> list[float]:
    return [float(t) for t in page.locator("#numbers td").all_inner_texts()]


def hessian(page: Any) -> list[list[float]]:
    rows = page.locator("#hessian tbody tr")
    return [[float(t) for t in rows.nth(i).locator("td").all_inner_texts()] for i in range(rows.count())]


def seed_hessian(x: float, y: float) -> list[list[float]]:
    return [[6 * x * y, 3 * x**2 - 2 * y], [3 * x**2 - 2 * y, -2 * x]]


def flat(matrix: list[list[float]]) -> list[float]:
    return [v for row in matrix for v in row]


def test_seed_numbers_contour_arrows_and_click(page: Any) -> None:
    evaluate(page, SEED_TEXT, "x, y", SEED_ARG_TEXTS)
    assert numbers(page) == [SEED_VALUE, *SEED_GRADIENTS]
    assert page.locator("#numbers th").all_inner_texts() == ["value", "∂/∂x", "∂/∂y"]
    assert hessian(page) == seed_hessian(2, 3) == [[36, 6], [6, -4]]
    plot = page.locator("#plot")
    assert plot.get_attribute("data-arrows") == "64"  # 8 x 8 interior points of the 17 x 17 grid
    assert page.locator("#plot g.annotation").count() == 64
    assert page.locator("#plot .contourlevel path").count() > 5
    before = plot.screenshot()
    assert distinct_colours(before) > 50, "the plot is blank"
    assert "curl -s" in page.inner_text("#curl") and "with valgrad.Client(" in page.inner_text("#python")
    if not SCREENSHOT.exists():  # the README's picture; delete it to take a new one
        page.mouse.move(1, 1)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Click a quarter in from the left and the bottom of the axes: the point moves to (-2, -2).
    size = page.evaluate("(() => { const s = document.getElementById('plot')._fullLayout._size;"
                         " return [s.l, s.t, s.w, s.h]; })()")
    left, top, width, height = size
    plot.click(position={"x": left + 0.25 * width, "y": top + 0.75 * height})
    page.wait_for_function("document.getElementById('plot').dataset.point !== '[2,3]' && "
                           "document.getElementById('status').textContent === 'done'")
    x, y = float(page.input_value("#arg-0")), float(page.input_value("#arg-1"))
    assert abs(x + 2) < 0.1 and abs(y + 2) < 0.1, (x, y)
    assert numbers(page) == pytest.approx([x**3 * y - x * y**2, 3 * x**2 * y - y**2, x**3 - 2 * x * y])
    assert flat(hessian(page)) == pytest.approx(flat(seed_hessian(x, y)))  # the Hessian moved along
    assert page.evaluate("document.getElementById('plot').data[1].x[0]") == pytest.approx(x)
    assert plot.screenshot() != before


def test_the_hessian_comes_from_the_registered_hessian_endpoint(page: Any) -> None:
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/hessian") else None)
    evaluate(page, SEED_TEXT, "x, y", SEED_ARG_TEXTS)
    assert hessian(page) == seed_hessian(2, 3) == [[36, 6], [6, -4]]
    assert page.locator("#hessian thead th").all_inner_texts() == ["", "x", "y"]
    assert page.locator("#hessian tbody th").all_inner_texts() == ["x", "y"]
    assert asked and all(re.search(r"/v1/functions/[^/]+/hessian$", u) for u in asked), asked
    curl = page.inner_text("#curl-hessian")
    assert "curl -s" in curl and "/hessian" in curl and '{"args":[2,3]}' in curl
    assert "client.hessian_function(f)" in page.inner_text("#python")

    evaluate(page, SEED_TEXT, "x, y", ["2", "[3, 1]"])  # a vector param: no Hessian matrix, a note instead
    assert page.is_hidden("#hessian") and "scalar params" in page.inner_text("#hessian-note")
    evaluate(page, SEED_TEXT, "x, y", ["1", "2"])
    page.fill("#params", "y")
    evaluate(page, SEED_TEXT, "x, y", ["1", "2"])
    assert hessian(page) == [[-2.0]] and page.locator("#hessian thead th").all_inner_texts() == ["", "y"]


def test_one_input_draws_the_curve_and_its_derivative(page: Any) -> None:
    evaluate(page, "sin(x) * x", "x", ["1"])
    assert numbers(page) == pytest.approx([0.8414709848, 0.8414709848 + 0.5403023059])
    assert page.evaluate("document.getElementById('plot').data.length") == 3
    assert page.locator("#plot .scatterlayer .trace").count() == 3


def test_a_problem_is_shown_in_place_with_the_pointer_highlighted(page: Any) -> None:
    evaluate(page, "x**3*y - x*z", "x, y", ["2", "3"])
    assert page.is_visible("#problem")
    assert "unknown name 'z'" in page.inner_text("#problem") and "/function/expression" in page.inner_text("#problem")
    assert "bad" in (page.get_attribute("#expression", "class") or "")
    assert page.evaluate("[document.activeElement.id, document.activeElement.selectionStart]") == ["expression", 12]
    evaluate(page, SEED_TEXT, "x, y", ["2", '"two"'])
    assert "/args/1" in page.inner_text("#problem") and "bad" in (page.get_attribute("#arg-1", "class") or "")
    assert "bad" not in (page.get_attribute("#expression", "class") or "")


def distinct_colours(png: bytes) -> int:
    """How many distinct pixel values an 8-bit RGB(A) PNG holds (a blank picture has a handful)."""
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    bpp = 3 if colour == 2 else 4
    raw, pos = b"", 8
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            raw += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    data, stride, prev = zlib.decompress(raw), width * bpp, bytearray(width * bpp)
    seen: set[bytes] = set()
    for row in range(height):
        kind, line = data[row * (stride + 1)], bytearray(data[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            line[i] = (line[i] + pred) & 0xFF
        seen.update(bytes(line[i:i + bpp]) for i in range(0, stride, bpp * 7))  # every 7th pixel is plenty
        prev = line
    return len(seen)


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c
