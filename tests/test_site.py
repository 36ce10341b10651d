"""The course website in a real browser: build it (site/conf.py, stored outputs, nothing executed), serve it on
127.0.0.1 and open every page in headless Chromium through Playwright.

Fails on: a Sphinx warning, a JavaScript error or console error, a request outside the site (the site must work
offline), a resource that does not load (404), an image that did not decode, a broken internal link or anchor,
math that MathJax did not typeset (or typeset with an error), a solution cell that is not collapsed, a chapter
missing from the site. Saves screenshots of the course map and of chapter 04 into .cache/site-screenshots/.

Needs the `site` extra (Sphinx, MyST-NB, sphinx-book-theme, sphinx-mathjax-offline, playwright) and a Chromium
(Debian: `apt-get install chromium`; or CHROMIUM=/path/to/chrome). Where either is absent the test skips with the
reason; in CI (CI=true) it fails instead, since CI installs them.
"""

import functools
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urldefrag

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / ".cache" / "site-screenshots"
SITE_MODULES = ("sphinx", "myst_nb", "sphinx_book_theme", "playwright")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def _missing(reason):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must install it: see site/README.md)")
    pytest.skip(reason)


def _chromium():
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site as `make site` does, into a temporary folder, with warnings as errors."""
    absent = [m for m in SITE_MODULES if importlib.util.find_spec(m) is None]
    if absent:
        _missing(f"the site tools are not installed ({', '.join(absent)}): pip install -e '.[site]'")
    if importlib.util.find_spec("sphinx-mathjax-offline") is None:
        _missing("sphinx-mathjax-offline is not installed: pip install -e '.[site]'")
    out = tmp_path_factory.mktemp("site") / "html"  # MyST-NB writes its images beside it (../jupyter_execute)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-c",
            "site",
            ".",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, f"sphinx-build failed:\n{build.stdout}\n{build.stderr}"
    return out


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# Runs in the page once it has loaded: waits for MathJax, then reports what the test checks.
PAGE_REPORT = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  for (const img of document.images) { img.loading = 'eager'; }
  await Promise.all([...document.images].map(img => img.decode().catch(() => null)));
  const images = [...document.images].map(img => ({src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0}));
  const links = [...document.querySelectorAll('a[href]')].map(a => a.href);
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  const mathBlocks = [...document.querySelectorAll('.math')];
  const untypeset = mathBlocks.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80));
  const mathErrors = [...document.querySelectorAll('mjx-merror')].map(e => e.textContent.slice(0, 80));
  // Raw TeX left in the prose (not in code, outputs or typeset math) means math that was not recognised.
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT, {
    acceptNode: n => n.parentElement.closest('pre, code, script, style, mjx-container, .highlight, .output, .cell_output, .onlyprint')
      ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
  const rawTex = [];
  while (walker.nextNode()) {
    const t = walker.currentNode.textContent;
    if (/\\$\\$|\\\\(frac|mathrm|mathbb|sum|hat)\\b|\\$[A-Za-z\\\\][^$\\n]{0,40}\\$/.test(t)) { rawTex.push(t.trim().slice(0, 80)); }
  }
  const solutions = [...document.querySelectorAll('.cell.tag_solution')].map(c => {
    const d = c.querySelector('details.hide');
    return {collapsed: !!d && !d.open};
  });
  return {title: document.title, images, links, ids, math: mathBlocks.length, mjx: document.querySelectorAll('mjx-container').length,
          untypeset, mathErrors, rawTex, solutions};
}"""


def _status(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_site_in_browser(site, server):
    chromium = _chromium()
    if chromium is None:
        _missing("no Chromium found (apt-get install chromium, or set CHROMIUM=/path/to/chrome)")
    from playwright.sync_api import sync_playwright

    problems, reports, outside = [], {}, set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def guard(route):  # the site must not need the internet: record and refuse every outside request
            if route.request.url.startswith(server):
                route.continue_()
            else:
                outside.add(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        events = []
        page.on(
            "console", lambda m: events.append(f"console {m.type}: {m.text}") if m.type == "error" else None
        )
        page.on("pageerror", lambda e: events.append(f"JavaScript error: {e}"))
        # ERR_ABORTED is the browser cancelling a request itself (a web font superseded while the page loads, on
        # a busy machine): not a missing file, which the response handler below reports as HTTP 404.
        page.on(
            "requestfailed",
            lambda r: (
                None
                if "ERR_ABORTED" in str(r.failure)
                else events.append(f"request failed: {r.url} ({r.failure})")
            ),
        )
        page.on("response", lambda r: events.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

        queue, seen = [server + "site/index.html"], set()
        while queue:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            events.clear()
            response = page.goto(url, wait_until="networkidle")
            if response is None or response.status != 200:
                problems.append(f"{url}: HTTP {response and response.status}")
                continue
            report = page.evaluate(PAGE_REPORT)
            name = url[len(server) :]
            reports[name] = report
            problems += [f"{name}: {e}" for e in events]
            problems += [f"{name}: image did not load: {i['src']}" for i in report["images"] if not i["ok"]]
            problems += [f"{name}: math not typeset: {t!r}" for t in report["untypeset"]]
            problems += [f"{name}: MathJax error: {t!r}" for t in report["mathErrors"]]
            problems += [f"{name}: raw TeX in the text: {t!r}" for t in report["rawTex"]]
            if "\\" in report["title"] or "$" in report["title"]:  # the browser tab shows it as it is
                problems.append(f"{name}: raw TeX in the page title: {report['title']!r}")
            problems += [
                f"{name}: a solution is not collapsed" for s in report["solutions"] if not s["collapsed"]
            ]
            for link in report["links"]:
                target = urldefrag(link).url
                if target.startswith(server) and target.endswith(".html") and target not in seen:
                    queue.append(target)
            if name in ("site/index.html", "notebooks/04_fusion_mlp.html"):
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=SCREENSHOTS / (name.replace("/", "_") + ".png"), full_page=False)
        browser.close()

    # Every internal link: the target exists (HTTP 200) and, for an anchor into a page, the anchor does.
    checked = {}
    for name, report in reports.items():
        for link in report["links"]:
            if not link.startswith(server):
                continue  # external (none are fetched: the build machine is offline)
            target, fragment = urldefrag(link)
            if target not in checked:
                checked[target] = _status(target)
            if checked[target] != 200:
                problems.append(f"{name}: broken link {link} (HTTP {checked[target]})")
            elif fragment and target.endswith(".html"):
                ids = reports.get(target[len(server) :], {}).get("ids")
                if ids is not None and fragment not in ids:
                    problems.append(f"{name}: broken anchor {link}")

    problems += [f"request outside the site: {u}" for u in sorted(outside)]
    if _status(server) != 200 or "site/index.html" not in (site / "index.html").read_text():
        problems.append("the root index.html does not lead to the course map")
    chapters = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for page_name in [f"notebooks/{c}.html" for c in chapters] + ["site/glossary.html", "data/README.html"]:
        if page_name not in reports:
            problems.append(f"page not reachable from the course map: {page_name}")
    # Chapters with math in their markdown must show typeset math; every chapter has collapsed solutions.
    for c in chapters:
        report = reports.get(f"notebooks/{c}.html")
        nb = json.loads((ROOT / "notebooks" / f"{c}.ipynb").read_text())
        if report is None:
            continue
        has_math = any(
            cell["cell_type"] == "markdown" and "$" in "".join(cell["source"]) for cell in nb["cells"]
        )
        if has_math and report["mjx"] == 0:
            problems.append(f"{c}: has math but no MathJax output")
        n_solutions = sum("solution" in cell.get("metadata", {}).get("tags", []) for cell in nb["cells"])
        if len(report["solutions"]) != n_solutions:
            problems.append(
                f"{c}: {len(report['solutions'])} solution cells on the page, {n_solutions} in the notebook"
            )
    if not any(
        i["src"].endswith("cohort_samples.png") and i["ok"] for i in reports["data/README.html"]["images"]
    ):
        problems.append("data card: cohort_samples.png is not shown")

    assert not problems, f"{len(problems)} problems on the site:\n" + "\n".join(problems[:60])
    assert len(reports) >= len(chapters) + 3
    print(f"{len(reports)} pages checked; screenshots in {SCREENSHOTS}")
