"""The explorer in a real browser: the quickstart notebook served by Voilà, driven by Playwright.

Voilà runs ``notebooks/01_quickstart.ipynb`` top to bottom in a fresh kernel and
serves it as a page on 127.0.0.1; Debian's Chromium (headless, started from its
own path: Playwright downloads no browser) opens it. The test then does what a
student would do with the ``kernelkit.explore(tracked)`` at the end of the
notebook, and reads the page after each step:

1. the explorer renders, with every chart drawn and no cell in error;
2. a filter (``udp.port == 53``) typed in the box and sent with Enter changes
   every view consistently: fewer packets and flows in the status, the same
   counts in the captions, only UDP/53 flows in the top-flows list, new chart data;
3. choosing a flow in the list drills down to exactly that flow's packets;
4. an invalid filter shows the error with a caret under the culprit and leaves
   the views as they were;
5. a TCP filter and a TCP flow: the drill-down shows its packets and its
   time-sequence plot. Screenshots go to ``test-artifacts/`` (git-ignored).

The charts are Altair's HTML output, which loads vega, vega-lite and vega-embed
from cdn.jsdelivr.net. This machine and CI have no network, so the page gets
them from a local copy (the bundle that vl-convert-python builds, the same
versions) and every other request that would leave the machine is refused; all
are logged. The second test asks that the page need none of them (an expected
failure while the charts load vega from the CDN).

Skips with the reason when Chromium, Playwright, Voilà or vl-convert-python is
missing. Environment:

``KERNELKIT_CHROMIUM``
    the browser (default: ``chromium`` on the PATH, Debian's ``/usr/bin/chromium``);
``KERNELKIT_TEST_ARTIFACTS``
    where screenshots and the browser's console go (default ``test-artifacts/``);
``KERNELKIT_UPDATE_DOCS_SCREENSHOT=1``
    also copy the explorer's screenshot to ``docs/explorer.png`` (the README's).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "01_quickstart.ipynb"
ARTIFACTS = Path(os.environ.get("KERNELKIT_TEST_ARTIFACTS") or REPO / "test-artifacts")
DOCS_SCREENSHOT = REPO / "docs" / "explorer.png"

# As the machine notes start Debian's Chromium: no first-run, sync, component
# updates or background requests, which a closed network would refuse many at a time.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 1000}

# Every wait is bounded, so that a broken page fails the test instead of hanging CI.
SERVER_START_S = 60  # Voilà listening
NOTEBOOK_RUN_MS = 240_000  # Voilà runs the whole notebook as it sends the page (~2 min on a cold JIT cache)
WIDGETS_MS = 60_000  # the page connects to the kernel and renders the widgets
UPDATE_MS = 30_000  # one round trip: browser → kernel → browser, charts drawn

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
FLOW_LABEL = re.compile(
    r"^\s*(?P<flow_id>\d+)\s+(?P<bytes>[\d,]+)\s+(?P<packets>[\d,]+)\s+(?P<seconds>[\d.]+)\s+"
    r"(?P<protocol>\S+)\s+(?P<orig>\S+) → (?P<resp>\S+)\s*$"
)


# -- tools -------------------------------------------------------------------------------


def _chromium() -> str | None:
    for candidate in (os.environ.get("KERNELKIT_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _require_tools() -> str:
    """The browser's path; skips, naming what is missing and how to get it, when a tool is absent."""
    missing = []
    chromium = _chromium()
    if chromium is None:
        missing.append("Debian's Chromium (apt-get install chromium, or set KERNELKIT_CHROMIUM)")
    for module, package in (
        ("playwright", "playwright"),
        ("voila", "voila"),
        ("vl_convert", "vl-convert-python"),
    ):
        if importlib.util.find_spec(module) is None:
            missing.append(f"{package} (pip install {package})")
    if missing:
        pytest.skip("the browser test needs " + "; ".join(missing))
    return chromium


@functools.lru_cache(maxsize=1)
def _vega_bundle() -> str:
    """vega, vega-lite and vega-embed in one script that sets them as globals (as the CDN's files do)."""
    import altair as alt
    import vl_convert

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])  # v6.4.1 -> 6.4
    versions = vl_convert.get_vegalite_versions()
    bundle = vl_convert.javascript_bundle(vl_version=wanted if wanted in versions else None)
    # In its own scope: charts that start together each load the script (Altair's loader only
    # skips a script already loaded), and the bundle's top-level consts may be declared once only.
    return "(() => {\n" + bundle + "\n})();\n"


# -- the server --------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    log: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no Voilà log)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (Voilà shuts its kernels down), then SIGKILL to the whole group if it lingers."""
    if process.poll() is None:
        process.terminate()  # Voilà stops its loop on SIGTERM and shuts its kernels down
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _start_voila(home: Path, env: dict) -> tuple[subprocess.Popen, Server]:
    port = _free_port()
    log = home / f"voila-{port}.log"
    command = [
        sys.executable, "-m", "voila", str(NOTEBOOK),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--Voila.port_retries=0",  # our port or nothing: the URL must be the one we open
        "--show_tracebacks=True",
        "--VoilaExecutor.timeout=180",  # per cell
    ]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(f"http://127.0.0.1:{port}/", log)
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline and process.poll() is None:
        if server.url in log.read_text(errors="replace"):  # "Voilà is running at: <url>"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, server
        time.sleep(0.2)
    _stop(process)
    raise RuntimeError(f"Voilà did not start on port {port}:\n{server.log_tail()}")


@pytest.fixture(scope="module")
def voila(tmp_path_factory):
    """Voilà serving the quickstart on 127.0.0.1 (a free port, no token), stopped at the end."""
    _require_tools()
    home = tmp_path_factory.mktemp("voila")
    env = dict(
        os.environ,
        # nobody's Jupyter configuration (a token, another template) changes the server
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        # the kernel imports this checkout's kernelkit
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )
    errors = []
    for _ in range(3):  # the free port may be taken between our probe and Voilà's bind
        try:
            process, server = _start_voila(home, env)
            break
        except RuntimeError as e:
            errors.append(str(e))
    else:
        pytest.fail("\n\n".join(errors))
    try:
        yield server
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium, headless, with a new empty profile, driven by Playwright."""
    chromium = _require_tools()
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=VIEWPORT,
            timeout=60_000,
        )
        context.set_default_timeout(UPDATE_MS)
        context.set_default_navigation_timeout(NOTEBOOK_RUN_MS)
        try:
            yield context
        finally:
            context.close()


# -- the page ----------------------------------------------------------------------------


@dataclass
class Session:
    page: object
    server: Server
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)

    def report(self) -> str:
        return (
            f"page errors: {self.page_errors or 'none'}\n"
            "console:\n  " + "\n  ".join(self.console[-40:] or ["(empty)"]) + "\n"
            "requests off the machine:\n  " + "\n  ".join(self.external or ["none"]) + "\n"
            f"Voilà log (tail):\n{self.server.log_tail()}"
        )


def _is_external(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS


@contextlib.contextmanager
def open_quickstart(browser, server: Server):
    """The quickstart in a new page: Voilà runs it, the explorer renders, its charts draw.

    Requests that would leave the machine are refused and logged, except the vega
    CDN's files, which come from the local bundle. A failure to load leaves
    ``test-artifacts/explorer-failure.png`` and ``explorer-console.log``.
    """
    page = browser.new_page()
    session = Session(page, server)
    page.on("console", lambda m: session.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: session.page_errors.append(str(e)))
    bundle = _vega_bundle()

    def off_the_machine(route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.hostname == "cdn.jsdelivr.net" and parts.path.startswith("/npm/vega"):
            session.external.append(f"served from the local vega bundle: {url}")
            # Altair loads vega, then vega-lite, then vega-embed: the first brings all three.
            body = bundle if parts.path.startswith("/npm/vega@") else "/* in the vega bundle */"
            route.fulfill(status=200, content_type="application/javascript", body=body)
        else:
            session.external.append(f"refused (no network): {url}")
            route.abort("internetdisconnected")

    page.route(_is_external, off_the_machine)
    try:
        with diagnosed(session, "explorer"):
            page.goto(server.url, wait_until="load")  # Voilà streams the cells as they run: wait for all
            errors = [
                text
                for text in page.locator(
                    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
                ).all_inner_texts()
                if "Traceback" in text
            ]
            assert not errors, "a cell of the quickstart failed in Voilà:\n" + "\n".join(errors)
            page.wait_for_selector(".kk-explorer", timeout=WIDGETS_MS)
            wait_charts_settled(page)
            # a renderer that throws (after drawing, even) leaves a red "Javascript Error" output
            renderer_errors = [
                text
                for text in page.locator(".jp-OutputArea-output").all_inner_texts()
                if text.startswith("Javascript Error")
            ]
            assert not renderer_errors, "an output the page could not render:\n" + "\n".join(renderer_errors)
        yield session
    finally:
        page.close(run_before_unload=True)


@pytest.fixture(scope="module")
def quickstart(voila, browser):
    """The quickstart open in Chromium, its explorer rendered (one page for the module's tests)."""
    with open_quickstart(browser, voila) as session:
        yield session


@contextlib.contextmanager
def diagnosed(session: Session, name: str):
    """On failure: a screenshot and the browser's console in the artefacts, and both in the error."""
    try:
        yield
    except BaseException as e:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            _fit_viewport(session.page)
            session.page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
        report = session.report()
        (ARTIFACTS / f"{name}-console.log").write_text(report)
        e.add_note(f"screenshot: {ARTIFACTS / f'{name}-failure.png'}\n{report}")
        raise
    else:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{name}-console.log").write_text(session.report())
        (ARTIFACTS / f"{name}-failure.png").unlink(missing_ok=True)  # an earlier run's


def _fit_viewport(page) -> None:
    """Make the viewport as tall as the page's content (Voilà scrolls inside a panel, not the document)."""
    height = page.evaluate(
        "() => Math.max(document.documentElement.scrollHeight,"
        " ...[...document.querySelectorAll('body *')].map(e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(height + 40, 600), 16000)})


# -- reading the explorer ----------------------------------------------------------------

# Each chart (an Output widget) as the page shows it. ``spec`` is what the kernel sent (the
# script of Altair's HTML, or a static image's markup), ``rendered`` whether a chart is drawn
# (vega's canvas or svg with the class "marks", or a static svg/png output), ``error`` the
# text vega-embed's loader writes when it cannot load, ``empty`` the explorer's "nothing to
# show" note.
CHARTS_JS = """
(selector) => [...document.querySelectorAll(selector)].map(chart => {
  const marks = [...chart.querySelectorAll('canvas.marks, svg.marks')]
    .filter(m => m.getBoundingClientRect().width > 0 && m.getBoundingClientRect().height > 0);
  const statics = [...chart.querySelectorAll(
    "[data-mime-type='image/svg+xml'] svg, [data-mime-type='image/png'] img, [data-mime-type='image/svg+xml'] img")];
  const scripts = [...chart.querySelectorAll('script')].map(s => s.textContent).join('\\n');
  const error = chart.querySelector('.error');
  const empty = chart.querySelector('i.kk-empty');
  return {
    view: (chart.closest('.kk-view') || chart).className.split(' ').find(c => c.startsWith('kk-view-'))
          || chart.className.split(' ').find(c => c.startsWith('kk-') && c !== 'kk-chart'),
    rendered: marks.length > 0 || statics.length > 0,
    // what is drawn: the pixels or the SVG of vega's marks, an HTML renderer's embedded spec, a static image
    spec: marks.map(m => m.tagName === 'CANVAS' ? m.toDataURL() : m.outerHTML).join('')
          + scripts + statics.map(s => s.outerHTML || s.src).join(''),
    error: error ? error.textContent : null,
    empty: empty ? empty.textContent : null,
  };
})
"""
SETTLED_JS = (
    "(selector) => { const charts = (" + CHARTS_JS + ")(selector);"
    " return charts.length > 0 && charts.every(c => c.rendered || c.empty !== null || c.error !== null); }"
)
VIEW_CHARTS = ".kk-views .kk-chart"


def charts(page, selector: str = VIEW_CHARTS) -> dict[str, dict]:
    return {c["view"]: c for c in page.evaluate(CHARTS_JS, selector)}


def wait_charts_settled(page, selector: str = VIEW_CHARTS) -> dict[str, dict]:
    """Wait until every chart is drawn, says it has nothing to show, or failed; then assert none failed."""
    page.wait_for_function(SETTLED_JS, arg=selector, timeout=UPDATE_MS)
    shown = charts(page, selector)
    failed = {view: c["error"] for view, c in shown.items() if c["error"] is not None}
    assert not failed, f"charts that did not draw: {failed}"
    return shown


def status(page) -> dict[str, int]:
    data = page.locator(".kk-status .kk-selected").evaluate("e => ({...e.dataset})")
    return {key: int(value) for key, value in data.items()}


def captions(page) -> dict[str, str]:
    return page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('.kk-view')].map(v =>"
        " [v.className.split(' ').find(c => c.startsWith('kk-view-')), v.querySelector('.kk-caption').innerText]))"
    )


def top_flows(page) -> list[dict]:
    labels = page.locator(".kk-top-flows select").evaluate("s => [...s.options].map(o => o.textContent)")
    flows = []
    for label in labels:
        match = FLOW_LABEL.match(label.replace("\xa0", " "))
        assert match, f"a top-flows option that does not read as a flow: {label!r}"
        row = match.groupdict()
        row["flow_id"], row["packets"] = int(row["flow_id"]), int(row["packets"].replace(",", ""))
        row["label"] = label
        flows.append(row)
    return flows


def port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def leading_int(text: str) -> int:
    return int(re.match(r"\s*([\d,]+)", text).group(1).replace(",", ""))


def apply_filter(page, text: str) -> None:
    """Type a filter and send it with Enter (the box sends on Enter or on losing focus, not per key)."""
    box = page.locator(".kk-filter input")
    box.fill(text)
    box.press("Enter")


def wait_status_change(page, before: dict[str, int]) -> dict[str, int]:
    page.wait_for_function(
        "(before) => { const s = document.querySelector('.kk-status .kk-selected');"
        " return s && (s.dataset.packets !== String(before.packets) || s.dataset.flows !== String(before.flows)); }",
        arg=before,
        timeout=UPDATE_MS,
    )
    return status(page)


def choose_flow(page, flow: dict) -> dict:
    """Choose a flow in the top-flows list; wait for its drill-down; return what it shows."""
    page.locator(".kk-top-flows select").select_option(label=flow["label"])
    flow_id = flow["flow_id"]
    page.wait_for_selector(f".kk-drilldown-title b.kk-drilldown-flow[data-flow-id='{flow_id}']")
    page.wait_for_selector(f".kk-flow-packets table.kk-packets[data-flow-id='{flow_id}']")
    table = page.locator(".kk-flow-packets table.kk-packets")
    return {
        "title": page.locator(".kk-drilldown-title").inner_text().replace("\xa0", " "),
        "packets": int(table.get_attribute("data-packets")),
        "rows": table.evaluate(
            "t => { const head = [...t.tHead.rows[0].cells].map(c => c.textContent);"
            " return [...t.tBodies[0].rows].map(r => Object.fromEntries([...r.cells].map((c, i) => [head[i], c.textContent]))); }"
        ),
        "chosen": page.locator(".kk-top-flows select").evaluate(
            "s => s.selectedOptions[0]?.textContent ?? null"
        ),
    }


def assert_drilldown(shown: dict, flow: dict) -> None:
    """The drill-down shows exactly the chosen flow: its id and endpoints, all its packets, each between them."""
    assert f"flow {flow['flow_id']}" in shown["title"], shown["title"]
    assert f"{flow['orig']} → {flow['resp']}" in shown["title"], shown["title"]
    assert shown["chosen"] == flow["label"], "the list no longer shows the chosen flow as selected"
    assert shown["packets"] == flow["packets"], "the drill-down's packet count is not the flow's"
    assert len(shown["rows"]) == min(flow["packets"], 200)
    ends = {flow["orig"], flow["resp"]}
    for row in shown["rows"]:
        assert {row["src"], row["dst"]} == ends, f"a packet of another flow in the drill-down: {row}"
        assert row["direction"] == ("0" if row["src"] == flow["orig"] else "1"), row


# -- the tests ---------------------------------------------------------------------------

CHANGING_VIEWS = ("kk-view-traffic", "kk-view-top-talkers", "kk-view-flow-sizes")


def test_explorer_filter_views_and_drilldown(quickstart):
    session, page = quickstart, quickstart.page
    with diagnosed(session, "explorer"):
        # 1. rendered: every chart drawn, the status and the list filled, no flow chosen
        initial_charts = wait_charts_settled(page)
        assert set(initial_charts) == {*CHANGING_VIEWS, "kk-view-anomalies"}
        for view in CHANGING_VIEWS:
            assert initial_charts[view]["rendered"], f"{view} drew nothing on the whole trace"
        everything = status(page)
        assert everything["packets"] > 0 and everything["flows"] > 0
        assert len(top_flows(page)) == min(everything["flows"], 20)
        assert page.locator(".kk-drilldown-title").inner_text() == "no flow chosen"

        # 2. a filter changes every view, consistently
        apply_filter(page, "udp.port == 53")
        dns = wait_status_change(page, everything)
        assert 0 < dns["packets"] < everything["packets"] and 0 < dns["flows"] < everything["flows"]
        dns_flows = top_flows(page)
        assert len(dns_flows) == min(dns["flows"], 20)
        assert all(f["protocol"] == "UDP" and 53 in (port(f["orig"]), port(f["resp"])) for f in dns_flows), [
            f["label"] for f in dns_flows
        ]
        text = captions(page)
        assert leading_int(text["kk-view-traffic"]) == dns["packets"], text  # "32 packets, 3.59kB in ..."
        assert leading_int(text["kk-view-flow-sizes"]) == dns["flows"], text  # "16 flows"
        page.wait_for_function(
            "([selector, views, before]) => { const now = (" + CHARTS_JS + ")(selector);"
            " return views.every(v => now.find(c => c.view === v).spec !== before[v]); }",
            arg=[VIEW_CHARTS, CHANGING_VIEWS, {v: c["spec"] for v, c in initial_charts.items()}],
            timeout=UPDATE_MS,
        )
        dns_charts = wait_charts_settled(page)
        for view in CHANGING_VIEWS:
            assert dns_charts[view]["rendered"], f"{view} drew nothing for the filter"

        # 3. choosing a flow drills down to its packets (a DNS exchange: no time-sequence plot)
        flow = dns_flows[1]
        assert_drilldown(choose_flow(page, flow), flow)
        page.wait_for_function(
            "() => document.querySelector('.kk-time-sequence i.kk-empty')?.textContent.includes('not a TCP flow')"
        )

        # 4. an invalid filter: the error, a caret under the culprit; the views stay as they were
        apply_filter(page, "udp.prot == 53")
        error = page.locator(".kk-error pre.kk-error-text")
        error.wait_for()
        message = error.inner_text()
        assert "udp.prot" in message, message
        echo = next(line for line in message.splitlines() if line.strip() == "udp.prot == 53")
        caret = next(line for line in message.splitlines() if line.strip().startswith("^"))
        assert caret.index("^") == echo.index("udp.prot"), f"the caret is not under the culprit:\n{message}"
        assert len(caret.strip()) == len("udp.prot"), f"the caret does not span the culprit:\n{message}"
        assert "kk-filter-invalid" in page.locator(".kk-filter").get_attribute("class")
        page.wait_for_timeout(500)  # nothing else may arrive
        assert status(page) == dns and top_flows(page) == dns_flows

        # 5. a TCP filter and a TCP flow: its packets and its time-sequence plot
        apply_filter(page, "tcp.port == 443")
        error.wait_for(state="detached")
        assert "kk-filter-invalid" not in page.locator(".kk-filter").get_attribute("class")
        tls = wait_status_change(page, dns)
        tls_flows = top_flows(page)
        assert 0 < tls["packets"] < everything["packets"] and len(tls_flows) == min(tls["flows"], 20)
        assert all(f["protocol"] == "TCP" and 443 in (port(f["orig"]), port(f["resp"])) for f in tls_flows), [
            f["label"] for f in tls_flows
        ]
        flow = tls_flows[0]
        shown = choose_flow(page, flow)
        assert_drilldown(shown, flow)
        syn = shown["rows"][0]["flags"]  # positional: "·······S·"
        assert syn.replace("·", "").strip() == "S", f"a TCP flow's first packet is its SYN, not {syn!r}"
        # (the plot arrives after the table, and replaces the DNS flow's "not a TCP flow")
        page.wait_for_function(
            "(selector) => (" + CHARTS_JS + ")(selector).every(c => c.rendered || c.error !== null)",
            arg=".kk-time-sequence",
            timeout=UPDATE_MS,
        )
        sequence = wait_charts_settled(page, ".kk-time-sequence")
        assert sequence["kk-time-sequence"]["rendered"], "no time-sequence plot for a TCP flow"
        wait_charts_settled(page)
        assert not session.page_errors, f"uncaught errors in the page: {session.page_errors}"

        # 6. the artefacts: the explorer (filtered, a flow drilled down) and the whole page
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        _fit_viewport(page)
        page.wait_for_timeout(300)  # let the resized page lay out
        explorer_png = ARTIFACTS / "explorer.png"
        page.locator(".kk-explorer").screenshot(path=str(explorer_png))
        page.screenshot(path=str(ARTIFACTS / "quickstart-voila.png"), full_page=True)
        if os.environ.get("KERNELKIT_UPDATE_DOCS_SCREENSHOT") == "1":
            DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(explorer_png, DOCS_SCREENSHOT)


# Stylesheets of Voilà's own "lab" template (an icon font), not of the notebook.
VOILA_OWN = ("/npm/@fortawesome/",)


def test_quickstart_needs_no_network(quickstart):
    """What the quickstart shows, the explorer's charts included, loads nothing from off the machine.

    A lecture hall's network may be closed, and captures often must not leave the lab.
    The refused or locally served requests are in ``test-artifacts/explorer-console.log``.
    """
    ours = [request for request in quickstart.external if not any(own in request for own in VOILA_OWN)]
    assert not ours, "the page loads from off the machine:\n  " + "\n  ".join(ours)
