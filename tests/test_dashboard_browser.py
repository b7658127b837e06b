"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Two real systems on loopback, started once for the module:

- ``energy-agents serve --allow-unsigned`` (empty store): the feed, escaping and CSP tests post
  plain seed-style messages to it;
- ``energy-agents up --tick 0.2`` (server, runner and the five agents): the charts, the tokens
  chart's strategy and baseline curves, agents' status, the decision and the KPI table, and the
  screenshot ``out/screenshots/dashboard.png``.

Without Chromium the tests skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from energy_agents.advisors.types import AGENT_NAMES
from ports import free_port_block

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "out" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
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
CHARTS = ("tokens", "soc", "prices", "grid", "p2p", "burned", "burn_rate")
STRATEGY_COLOR = (0x1F, 0x6F, 0xD1)  # charts.js PALETTE[0]: the (first) strategy run
BASELINE_COLOR = (0x7A, 0x7F, 0x87)  # charts.js BASELINE_COLOR
LIVE_STEPS = 120
PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run)")
    pytest.skip(reason)


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        _missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed")


# ------------------------------------------------------------------------------ processes


class Proc:
    """A CLI child in its own session (stopped with SIGINT, its whole group killed if need be)."""

    def __init__(self, argv: list[str], log: Path, url: str) -> None:
        self.url = url
        self.stopping = False
        self.log_path = log
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "energy_agents.cli", *argv],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=log.parent,
        )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def get(self, path: str, **params):
        r = requests.get(self.url + path, params=params, timeout=5)
        r.raise_for_status()
        return r.json()

    def wait_for(self, what: str, cond, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited with {self.proc.returncode}:\n{self.text()}")
            with contextlib.suppress(requests.RequestException, ValueError):
                value = cond()
                if value:
                    return value
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{self.text()}")

    def begin_stop(self) -> None:
        """Ctrl-C, without waiting (the shutdown overlaps with the next test)."""
        if self.proc.poll() is None and not self.stopping:
            self.proc.send_signal(signal.SIGINT)
            self.stopping = True

    def stop(self) -> None:
        self.begin_stop()
        if self.proc.poll() is None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the session, if any
        self.log.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """``energy-agents up`` with a fast tick, started first: it warms up while other tests run."""
    require_chromium()  # before starting processes no test could use
    tmp = tmp_path_factory.mktemp("live")
    base = free_port_block(6)
    argv = ["up", "--port", str(base), "--base-port", str(base + 1), "--data-dir", "data"]
    argv += ["--tick", "0.2", "--scenario", "synthetic", "--members", "5", "--days", "7"]
    argv += ["--steps", str(LIVE_STEPS)]
    p = Proc(argv, tmp / "up.log", f"http://127.0.0.1:{base}")
    yield p
    p.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, live):
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port_block(1)
    argv = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--database", str(tmp / "server.sqlite"), "--allow-unsigned"]
    p = Proc(argv, tmp / "serve.log", f"http://127.0.0.1:{port}")
    p.wait_for("the server", lambda: requests.get(p.url + "/health", timeout=2).ok, 30)
    yield p
    p.stop()


# ------------------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def browser():
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watched:
    """A page with its console errors, page errors and dialogs recorded."""

    def __init__(self, browser, width: int = 1440, height: int = 1100) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

        def on_dialog(d) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", on_dialog)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser):
    w = Watched(browser)
    yield w
    w.close()


def post_message(url: str, agent: str, text: str, step: int = 0, community: str = "") -> None:
    r = requests.post(
        url + "/receive" + (f"?community={community}" if community else ""),
        json={
            "agent_name": agent,
            "message": text,
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S"),
            "step": step,
        },
        timeout=5,
    )
    assert r.status_code < 300, r.text


def wait_live(page) -> None:
    """Until the page's first polling round answered. Predicates are functions, never
    expression strings: Playwright evaluates those with eval(), which the CSP forbids."""
    page.wait_for_function(
        "() => document.getElementById('conn').textContent === 'live'", timeout=5000
    )


def feed_texts(page) -> list[str]:
    return page.eval_on_selector_all("#feed tbody td.msg", "tds => tds.map(td => td.textContent)")


CANVAS_PROBE = """(c) => {
  const [left, top, w, h] = (c.dataset.plot || "0,0,0,0").split(",").map(Number);
  const r = window.devicePixelRatio || 1;
  const ctx = c.getContext("2d");
  const img = ctx.getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 3; i < img.length; i += 4) if (img[i] > 0) ink++;
  const want = %s;
  const hits = want.map(() => 0);
  const x0 = Math.ceil((left + 2) * r), x1 = Math.floor((left + w - 2) * r);
  const y0 = Math.ceil((top + 2) * r), y1 = Math.floor((top + h - 2) * r);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
    const i = (y * c.width + x) * 4;
    want.forEach((rgb, k) => {
      if (Math.abs(img[i] - rgb[0]) <= 12 && Math.abs(img[i + 1] - rgb[1]) <= 12 &&
          Math.abs(img[i + 2] - rgb[2]) <= 12 && img[i + 3] > 200) hits[k]++;
    });
  }
  return {ink, hits, points: Number(c.dataset.points || 0),
          series: JSON.parse(c.dataset.series || "[]")};
}"""


def probe(page, chart: str, colors=()) -> dict:
    script = CANVAS_PROBE % json.dumps([list(c) for c in colors])
    return page.eval_on_selector(f'canvas[data-chart="{chart}"]', script)


# ------------------------------------------------------------------------------ tests
def test_csp_header_forbids_inline_script(server, watched):
    r = requests.get(server.url + "/dashboard", timeout=5)
    assert r.status_code == 200
    csp = {
        d.split()[0]: d.split()[1:]
        for d in r.headers["Content-Security-Policy"].split(";")
        if d.strip()
    }
    assert csp["script-src"] == ["'self'"], csp
    assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    for asset in ("charts.js", "dashboard.js", "dashboard.css"):
        a = requests.get(f"{server.url}/dashboard/static/{asset}", timeout=5)
        assert a.status_code == 200 and "Content-Security-Policy" in a.headers

    # and the browser enforces it: an injected inline script does not run
    page = watched.page
    page.goto(server.url + "/dashboard")
    ran = page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "window.__inlineRan = true";
                   document.body.appendChild(s); return window.__inlineRan === true; }"""
    )
    assert ran is False
    assert any("Content Security Policy" in e for e in watched.errors), watched.errors


def test_page_loads_without_console_errors(server, watched):
    page = watched.page
    resp = page.goto(server.url + "/dashboard")
    assert resp is not None and resp.status == 200
    wait_live(page)
    page.wait_for_timeout(2200)  # two more polling rounds, every endpoint asked at least once
    assert watched.errors == []
    for chart in CHARTS:  # drawn even before data: frame and "waiting for data"
        assert probe(page, chart)["ink"] > 0, chart
    agents = page.eval_on_selector_all("#agents tbody tr", "rs => rs.map(r => r.dataset.agent)")
    assert set(AGENT_NAMES) <= set(agents)


def test_posted_message_appears_in_feed_within_3_s(server, watched):
    page = watched.page
    page.goto(server.url + "/dashboard")
    wait_live(page)
    text = f"feed check {time.time_ns()}: storage_A undercharged, recommend charging"
    t0 = time.monotonic()
    post_message(server.url, "storage_optimizer", text, step=3)
    page.wait_for_function(
        "t => [...document.querySelectorAll('#feed td.msg')].some(td => td.textContent === t)",
        arg=text,
        timeout=3000,
    )
    assert time.monotonic() - t0 < 3.0
    row = page.eval_on_selector(
        "#feed tbody tr",
        "tr => [...tr.children].map(td => td.textContent)",
    )
    assert row[1] == "storage_optimizer" and row[2] == "3" and row[3] == text
    assert row[6] in ("unsigned", "-")
    status = page.get_attribute('#agents tr[data-agent="storage_optimizer"]', "data-status")
    assert status == "healthy"

    # the agent filter: only the chosen agent's rows stay visible, new ones included
    page.select_option("#feed-agent", "storage_optimizer")
    post_message(server.url, "grid_trader", "filtered out " + text, step=3)
    page.wait_for_selector('#feed tr[data-agent="grid_trader"]', state="attached", timeout=3000)
    visible = page.eval_on_selector_all(
        "#feed tbody tr", "rs => rs.filter(r => !r.hidden).map(r => r.dataset.agent)"
    )
    assert visible and set(visible) == {"storage_optimizer"}
    assert watched.errors == []


def test_the_community_selector_shows_one_community(server, watched):
    """``/dashboard?community=NAME`` reads that community only; the selector lists the
    communities with rows and switches to another by reloading the page for it."""
    stamp = time.time_ns()
    post_message(server.url, "grid_trader", f"north only {stamp}", step=1, community="north")
    post_message(server.url, "grid_trader", f"default only {stamp}", step=1)
    page = watched.page
    page.goto(server.url + "/dashboard?community=north")
    wait_live(page)
    page.wait_for_function(
        "t => [...document.querySelectorAll('#feed td.msg')].some(td => td.textContent === t)",
        arg=f"north only {stamp}",
        timeout=3000,
    )
    assert f"default only {stamp}" not in feed_texts(page)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#community option')].length >= 2", timeout=3000
    )
    options = page.eval_on_selector_all("#community option", "os => os.map(o => o.value)")
    assert {"default", "north"} <= set(options)
    assert page.eval_on_selector("#community", "s => s.value") == "north"
    page.select_option("#community", "default")
    page.wait_for_url(server.url + "/dashboard", timeout=3000)
    wait_live(page)
    page.wait_for_function(
        "t => [...document.querySelectorAll('#feed td.msg')].some(td => td.textContent === t)",
        arg=f"default only {stamp}",
        timeout=3000,
    )
    assert f"north only {stamp}" not in feed_texts(page)
    assert watched.errors == []


@pytest.mark.parametrize(
    "payload",
    [
        "<img src=x onerror=alert(1)>",
        "<script>alert(1)</script>",
        '"><svg onload=alert(1)><b>bold</b>',
    ],
)
def test_untrusted_message_shows_as_literal_text(server, watched, payload):
    page = watched.page
    page.goto(server.url + "/dashboard")
    wait_live(page)
    marker = f" #{time.time_ns()}"
    post_message(server.url, "grid_trader", payload + marker)
    page.wait_for_function(
        "t => [...document.querySelectorAll('#feed td.msg')].some(td => td.textContent === t)",
        arg=payload + marker,
        timeout=3000,
    )
    page.wait_for_timeout(500)  # give an injected handler the time to fire
    assert watched.dialogs == []
    injected = page.evaluate(
        "() => document.querySelectorAll('#feed img, #feed script, #feed svg, #feed b').length"
    )
    assert injected == 0
    assert watched.errors == []


def test_no_runner_hint_when_only_agents_post(server, watched):
    """Messages but no runner: the charts say which command starts one."""
    post_message(server.url, "grid_trader", "hint check: no runner yet", step=0)
    page = watched.page
    page.goto(server.url + "/dashboard")
    wait_live(page)
    page.wait_for_selector("#charts-hint:not([hidden])", timeout=5000)
    hint = page.text_content("#charts-hint")
    assert "no runner is publishing" in hint
    assert "energy-agents run-sim" in hint and "energy-agents up" in hint
    empties = page.eval_on_selector_all(
        "canvas[data-chart]", "cs => cs.map(c => c.dataset.empty || '')"
    )
    assert len(empties) == len(CHARTS) and all(e == hint for e in empties), empties
    assert "waiting for data" not in " ".join(empties)
    for chart in CHARTS:  # the hint is drawn, not only stored
        assert probe(page, chart)["ink"] > 0, chart
    assert watched.errors == []


HEADER_AND_PANEL = """() => {
  const m = /step (\\d+)/.exec(document.getElementById("decision-meta").textContent);
  const rows = document.querySelectorAll("#timeline tbody tr");
  return {header: document.getElementById("hl-step").textContent,
          panel: m ? m[1] : null,
          timeline: rows.length ? rows[0].children[0].textContent : null,
          polls: document.body.dataset.polls};
}"""


def test_header_decision_panel_and_timeline_show_the_same_step(live, browser):
    """Read in one go, many times while the runner steps: never one step apart."""
    live.wait_for("the runner's first 3 steps", lambda: len(_series(live)) >= 3, timeout=60)
    w = Watched(browser, 1440, 1100)
    try:
        page = w.page
        page.goto(live.url + "/dashboard")
        page.wait_for_function(
            "() => /step \\d+/.test(document.getElementById('decision-meta').textContent)",
            timeout=5000,
        )
        seen = []
        for _ in range(40):  # 6 s: about six polling rounds, many steps at tick 0.2 s
            got = page.evaluate(HEADER_AND_PANEL)
            seen.append(got)
            page.wait_for_timeout(150)
        pairs = [g for g in seen if g["header"] not in ("-", "") and g["panel"] is not None]
        assert len(pairs) >= 30, seen
        bad = [g for g in pairs if not (g["header"] == g["panel"] == g["timeline"])]
        assert not bad, "\n".join(map(str, bad[:3] + seen[-2:]))
        assert len({g["header"] for g in pairs}) >= 2 or len(_series(live)) >= LIVE_STEPS, seen
        assert w.errors == []
    finally:
        w.close()


LEGEND_PIXELS = 12  # pixels of a series' own colour, at least, in the plot area


def test_every_legend_entry_has_its_line_visible(live, browser):
    """Each chart's series (its legend entries) has pixels of its own colour in the plot area:
    storage_A's line is not hidden under storage_B's (they sit at the same SOC here)."""
    live.wait_for("the runner's first 12 steps", lambda: len(_series(live)) >= 12, timeout=60)
    w = Watched(browser, 1440, 1100)
    try:
        page = w.page
        page.goto(live.url + "/dashboard")
        page.wait_for_function(
            """() => Number(document.querySelector('canvas[data-chart="soc"]')
                              .dataset.points) >= 12""",
            timeout=5000,
        )
        page.mouse.move(0, 0)  # no hover read-out over the lines
        socs = json.loads(page.get_attribute('canvas[data-chart="soc"]', "data-series"))
        assert {"storage_A", "storage_B"} <= {s["name"] for s in socs}, socs
        assert len({json.dumps([s["dash"], s["width"]]) for s in socs}) == len(socs), socs
        for chart in CHARTS:
            series = json.loads(page.get_attribute(f'canvas[data-chart="{chart}"]', "data-series"))
            assert series, chart
            colors = [tuple(int(s["color"][k : k + 2], 16) for k in (1, 3, 5)) for s in series]
            assert len(set(colors)) == len(colors), (chart, series)  # one colour per entry
            got = probe(page, chart, colors)
            for s, hits in zip(series, got["hits"], strict=True):
                assert hits >= LEGEND_PIXELS, f"{chart}: {s['name']} has {hits} visible pixels"
        assert w.errors == []
    finally:
        w.close()


def test_live_run_draws_every_chart_and_both_token_curves(live, browser):
    """The whole live system: charts over simulated time from the runner's records."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    live.wait_for(
        "the runner's first 12 steps",
        lambda: len(_series(live)) >= 12,
        timeout=60,
    )
    w = Watched(browser, 1440, 1100)
    try:
        page = w.page
        page.goto(live.url + "/dashboard")
        page.wait_for_function(
            """() => { const c = document.querySelector('canvas[data-chart="tokens"]');
                       const s = JSON.parse(c.dataset.series || "[]");
                       return s.length >= 2 && s.every(x => x.points >= 12); }""",
            timeout=5000,
        )
        tokens = probe(page, "tokens", [STRATEGY_COLOR, BASELINE_COLOR])
        names = [s["name"] for s in tokens["series"]]
        assert len(names) == 2 and "no-control baseline" in names, names
        assert tokens["hits"][0] > 30, f"strategy curve not drawn: {tokens}"
        assert tokens["hits"][1] > 15, f"baseline curve not drawn: {tokens}"
        for chart in CHARTS:
            got = probe(page, chart)
            assert got["points"] > 0 and got["ink"] > 0, (chart, got)
        assert len(probe(page, "soc")["series"]) >= 1

        # the rest of the page reads the live system too
        page.wait_for_function(
            "() => document.querySelectorAll('#agents tr[data-status=\"healthy\"]').length >= 5",
            timeout=5000,
        )
        page.wait_for_function(
            "() => document.querySelectorAll('#timeline tbody tr').length > 0", timeout=5000
        )
        assert page.text_content("#decision-action") not in ("", "no decision yet")
        assert page.eval_on_selector_all("#decision-parameters tr", "rs => rs.length") > 0
        page.wait_for_function(
            "() => document.querySelector('#kpis tr[data-kpi=\"tokens_spent_ct\"]')",
            timeout=5000,
        )
        assert page.text_content("#hl-saved") not in ("", "-")
        assert page.eval_on_selector_all("#feed tbody tr", "rs => rs.length") >= 5
        assert w.errors == []

        # a fuller picture for the person who looks at the screenshot (not a check: a slow
        # machine just gets a shorter one)
        with contextlib.suppress(PlaywrightTimeout):
            page.wait_for_function(
                """() => Number(document.querySelector('canvas[data-chart="tokens"]')
                                  .dataset.points) >= 2 * 30""",
                timeout=15000,
            )
        page.wait_for_timeout(1700)  # let the feed's highlight fade
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)
        assert (SCREENSHOTS / "dashboard.png").stat().st_size > 20_000
    finally:
        w.close()
        live.begin_stop()


def _series(p: Proc) -> list:
    data = p.get("/series", since_step=0)
    if isinstance(data, dict):
        for key in ("records", "series", "items", "steps"):
            if isinstance(data.get(key), list):
                return data[key]
        return []
    return data or []


def test_batch_report_draws_the_same_charts_under_strict_csp(tmp_path, browser):
    """report.html of a batch run: the dashboard's charts, no inline script, no network."""
    from energy_agents.commands.common import timed_run
    from energy_agents.reporting import report
    from energy_agents.scenarios.tiny import tiny_scenario

    scenario = tiny_scenario(seed=1, n_members=4, n_steps=48)
    base = timed_run(scenario, "none", progress=False)
    run = timed_run(
        scenario, "seed", progress=False, baseline_spent_ct=base.kpis["tokens_spent_ct"]
    )
    frames = {"seed": report.steps_frame(run.community), "none": report.steps_frame(base.community)}
    png = tmp_path / "tokens_spent.png"  # stands in for plot_runs' PNGs (slow, not under test)
    png.write_bytes(PNG_1PX)
    images = [png]
    rows = {"none": base.kpis, "seed": run.kpis}
    report.write_html("report <i>test</i>", rows, images, tmp_path, frames=frames)

    csp = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'"
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    types |= {".json": "application/json", ".png": "image/png"}

    def serve_file(route) -> None:
        rel = route.request.url.split("http://report.test/", 1)[1].split("?")[0]
        path = tmp_path / rel
        if not path.is_file():
            route.fulfill(status=404, body="")
            return
        route.fulfill(
            status=200,
            body=path.read_bytes(),
            headers={
                "Content-Type": types.get(path.suffix, "application/octet-stream"),
                "Content-Security-Policy": csp,
            },
        )

    for url in ("http://report.test/report.html", (tmp_path / "report.html").as_uri()):
        w = Watched(browser, 1280, 1000)
        try:
            w.context.route("http://report.test/**", serve_file)
            w.page.goto(url)
            w.page.wait_for_selector("#report-charts[data-drawn='1']", timeout=5000)
            tokens = probe(w.page, "tokens", [STRATEGY_COLOR, BASELINE_COLOR])
            assert [s["name"] for s in tokens["series"]] == ["seed", "none"]
            assert tokens["hits"][0] > 30 and tokens["hits"][1] > 15, tokens
            for chart in ("tokens", "prices", "grid", "burned"):
                assert probe(w.page, chart)["points"] > 0, (url, chart)
            assert w.page.evaluate("() => document.getElementById('png-plots').open") is False
            assert w.errors == [] and w.dialogs == []
            if url.startswith("http"):
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                w.page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
        finally:
            w.close()


def test_read_token_from_the_fragment(tmp_path, browser):
    """A server that wants a bearer token for reads: ``/dashboard#token=...`` sends it.

    In process under werkzeug (the page and the JSON API are all this checks; the real
    granian server is exercised above)."""
    import threading

    from werkzeug.serving import make_server

    from energy_agents.server import ServerConfig, create_app

    app = create_app(ServerConfig(database=str(tmp_path / "db.sqlite"), read_token="s3cret"))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_port}/dashboard"
    try:
        w = Watched(browser)
        try:
            w.page.goto(url + "#token=s3cret")
            wait_live(w.page)
            w.page.wait_for_timeout(1200)
            assert w.errors == []
        finally:
            w.close()
        w = Watched(browser)
        try:
            w.page.goto(url)
            w.page.wait_for_function(
                "() => document.getElementById('conn').textContent.includes('read token')",
                timeout=5000,
            )
        finally:
            w.close()
    finally:
        httpd.shutdown()
        thread.join(5)


def test_negative_saving_early_is_explained_by_the_energy_stored(tmp_path, browser):
    """A run that charges storage first (20 members, weighted: -3.3 CT after 15 steps, with
    20 kWh more stored than the baseline): the headline says what was bought, and its value.

    The records are the live runner's own (``LiveRunner._advance``, on the batch's decisions,
    which the live tests show are the live ones), posted to a real server as the runner does."""
    import re
    import tempfile

    from energy_agents.runner.batch import run_batch
    from energy_agents.runner.live import LiveRunner, RunnerConfig, load_run_scenario

    n = 15
    scenario = load_run_scenario({"scenario": "synthetic", "members": 20, "days": 2, "seed": 0})
    batch = run_batch(scenario, "weighted", keep_decisions=True)
    cfg = RunnerConfig("http://unused", Path(tempfile.mkdtemp(dir=tmp_path)), strategy="weighted")
    runner = LiveRunner(cfg, scenario, client=None, say=lambda _: None)
    port = free_port_block(1)
    argv = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--database", str(tmp_path / "server.sqlite"), "--allow-unsigned"]
    argv += ["--allow-unsigned-runner"]  # this test publishes /state itself
    srv = Proc(argv, tmp_path / "serve.log", f"http://127.0.0.1:{port}")
    try:
        srv.wait_for("the server", lambda: requests.get(srv.url + "/health", timeout=2).ok, 30)
        records = []
        for t in range(n):
            d = batch.decisions[t]
            runner._advance(d.parameters, {"action": d.action, "missing": []}, 0.0)
            records.append(runner.last_record)
            body = {
                "observation": json.loads(json.dumps(runner.community.observe().to_dict())),
                "record": runner.last_record,
                "kpis": runner.kpis(),
            }
            r = requests.post(srv.url + "/state", json=body, timeout=5)
            assert r.status_code < 300, r.text
        saved = sum(r["tokens_saved_ct"] for r in records)
        last = records[-1]
        extra = last["stored_kwh"] - last["baseline_stored_kwh"]
        price = sum(r["price_day_ahead"] for r in records) / n  # all on the first day
        assert saved < -1 and extra > 5  # the situation of the issue, in real data

        w = Watched(browser)
        try:
            page = w.page
            page.goto(srv.url + "/dashboard")
            page.wait_for_selector("#hl-explain:not([hidden])", timeout=5000)
            text = page.text_content("#hl-explain")
            assert text.startswith(f"\u2212{-saved:.1f} CT so far: "), text
            kwh = float(
                re.search(r"([\d.]+) kWh more in storage than the no-control baseline", text).group(
                    1
                )
            )
            worth = float(re.search(r"worth ~([\d.]+) CT at today's prices", text).group(1))
            assert kwh == pytest.approx(extra, rel=0.05)
            assert worth == pytest.approx(extra * price, abs=0.06)
            assert "ahead by ~" in text  # the stored energy is worth more than the deficit
            assert page.get_attribute("#hl-saved", "class") == "charging"
            assert page.text_content("#hl-saved").startswith(f"-{-saved:.1f} CT")
            assert page.text_content("#hl-step") == str(n - 1)
            assert w.errors == []
        finally:
            w.close()
    finally:
        srv.stop()
