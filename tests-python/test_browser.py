"""The HTML report in a real browser: Debian's Chromium, headless, driven by Playwright.

It must load with no console error and no network request (it is self-contained), draw
every chart as an SVG of non-zero size (bar, scatter, histogram, donut, heat map), and
print. Screenshots and the printed PDF are kept in test-artifacts/ for a person to look at.
"""
import os, shutil, subprocess
import pytest
from conftest import BIN, ROOT, generate

ARTIFACTS = os.path.join(ROOT, "test-artifacts")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is missing: scripts/test installs Debian's chromium package"
    with sync_playwright() as p:
        # The sandbox needs user namespaces that CI containers running as root do not give.
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    customers = str(tmp / "customers.csv")
    path = generate(str(tmp / "orders.csv"), customers=3000, seed=21, customers_file=customers)
    return tmp, path, customers


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_report_loads_cleanly_and_draws_every_chart(browser, data, lang):
    tmp, path, customers = data
    html = str(tmp / f"report-{lang}.html")
    subprocess.run([f"{BIN}/fidelis", "analyze", path, "--customers", customers, "--lang", lang, "--format", "html", "-o", html], check=True, capture_output=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems, requests = [], []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto("file://" + html, wait_until="load")
    assert problems == []
    assert requests == ["file://" + html], "the report fetched something besides itself"
    charts = page.eval_on_selector_all("svg", """els => els.map(e => {
        const r = e.getBoundingClientRect();
        return {id: e.id, kind: e.dataset.kind, width: r.width, height: r.height, marks: e.querySelectorAll('rect,circle,path,line').length};
    })""")
    assert {c["kind"] for c in charts} == {"bar", "scatter", "histogram", "donut", "heatmap"}
    for chart in charts:
        assert chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["marks"] > 0, chart
    assert page.title()
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, f"report-{lang}.png"), full_page=True)
    page.emulate_media(media="print")
    pdf = page.pdf(path=os.path.join(ARTIFACTS, f"report-{lang}.pdf"), format="A4")
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 2
    page.close()
