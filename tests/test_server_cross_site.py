"""Cross-site requests (issue 16): a page of another origin, opened in a real headless
Chromium, tries every request a browser lets it send to the server (images, forms, fetch
with and without CORS, a beacon) against a server started as open as it can be
(``--allow-unsigned --allow-unsigned-runner``). Nothing is stored or decided; the server saw
the requests and refused them. The header checks themselves (``Origin``, ``Sec-Fetch-Site``)
are also asserted on the Flask app, for clients that could send JSON cross-site."""

from __future__ import annotations

import http.server
import threading

import pytest
import requests

from server_fixtures import (
    ServerProcess,
    make_app,
    observation_dict,
    recommendation,
    store_url_fixture,  # noqa: F401 - the store_url fixture
)

ATTACK = """<!doctype html><html><body>
<iframe name="sink" style="display:none"></iframe>
<img src="{s}/aggregate?strategy=weighted&step=2147483647">
<img src="{s}/aggregate?strategy=weighted&step=1">
<img src="{s}/aggregate?strategy=weighted">
<form id="f1" method="post" action="{s}/receive" enctype="text/plain" target="sink">
  <input name='{{"agent_name": "grid_trader", "message": "forged form", "pad": "' value='"}}'>
</form>
<form id="f2" method="post" action="{s}/state" target="sink">
  <input name="observation" value="{{}}">
</form>
<form id="f3" method="post" action="{s}/decisions" enctype="text/plain" target="sink">
  <input name='{{"step": 1, "pad": "' value='"}}'>
</form>
<script>
const S = "{s}";
const msg = JSON.stringify({{agent_name: "grid_trader", message: "forged fetch"}});
const tries = [];
for (const p of ["/receive", "/state", "/decisions"]) {{
  tries.push(fetch(S + p, {{method: "POST", mode: "no-cors", body: msg,
                            headers: {{"Content-Type": "text/plain"}}}}).catch(e => e));
  tries.push(fetch(S + p, {{method: "POST", body: msg,
                            headers: {{"Content-Type": "application/json"}}}}).catch(e => e));
  tries.push(fetch(S + p, {{method: "POST", mode: "no-cors", credentials: "include",
                            body: new Blob([msg], {{type: "application/x-www-form-urlencoded"}})}})
             .catch(e => e));
  try {{ navigator.sendBeacon(S + p, msg); }} catch (e) {{}}
}}
document.getElementById("f1").submit();
setTimeout(() => document.getElementById("f2").submit(), 200);
setTimeout(() => document.getElementById("f3").submit(), 400);
Promise.all(tries).then(() => setTimeout(() => {{ document.title = "done"; }}, 1200));
</script></body></html>"""


class _Page(http.server.BaseHTTPRequestHandler):
    html = b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.html)))
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.browser
@pytest.mark.timeout(90)
def test_a_page_of_another_origin_changes_nothing(tmp_path):
    from test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, require_chromium

    require_chromium()
    from playwright.sync_api import sync_playwright

    server = ServerProcess(
        tmp_path,
        str(tmp_path / "s.sqlite"),
        "--allow-unsigned",
        "--allow-unsigned-runner",
        workers=1,
    ).start()
    page_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    _Page.html = ATTACK.format(s=server.url).encode()
    threading.Thread(target=page_server.serve_forever, daemon=True).start()
    page_url = f"http://127.0.0.1:{page_server.server_address[1]}/"
    try:
        for step in (0, 1):  # a run in progress, as the attack of the issue found it
            r = requests.post(
                server.url + "/state", json={"observation": observation_dict(step)}, timeout=5
            )
            assert r.status_code == 200, r.text
        before_state = requests.get(server.url + "/state", timeout=5).json()["seq"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.goto(page_url)
                page.wait_for_function("document.title === 'done'", timeout=20_000)
            finally:
                browser.close()
        assert requests.get(server.url + "/messages", timeout=5).json() == []
        assert requests.get(server.url + "/decisions", timeout=5).json() == []
        assert requests.get(server.url + "/state", timeout=5).json()["seq"] == before_state
        # the browser did reach the server, and was refused there
        metrics = requests.get(server.url + "/metrics", timeout=5).text
        refused = [
            line
            for line in metrics.splitlines()
            if line.startswith("energy_agents_http_requests_total")
            and 'method="POST"' in line
            and 'status="4' in line
        ]
        assert any('endpoint="/receive"' in line for line in refused), metrics
        assert any('endpoint="/state"' in line for line in refused), metrics
        assert not [line for line in metrics.splitlines() if 'status="5' in line]
        ok_posts = [
            line
            for line in metrics.splitlines()
            if line.startswith("energy_agents_http_requests_total")
            and 'method="POST"' in line
            and 'status="200"' in line
            and 'endpoint="/state"' not in line  # the two states published above
        ]
        assert not ok_posts, ok_posts
    finally:
        page_server.shutdown()
        page_server.server_close()
        server.stop()


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"Origin": "http://127.0.0.1:1"}, "Origin"),
        ({"Origin": "null"}, "Origin"),
        ({"Origin": "http://evil.example"}, "Origin"),
        ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site"),
        ({"Sec-Fetch-Site": "same-site"}, "Sec-Fetch-Site"),  # another port of this host
    ],
)
def test_browser_headers_of_another_origin_are_refused(store_url, headers, field):
    """Even a JSON post a browser could send (one day, or through a plugin) is refused when it
    says it comes from another origin; clients that send no such header are unaffected."""
    app = make_app(store_url, allow_unsigned=True, allow_unsigned_runner=True)
    c = app.test_client()
    try:
        assert c.post("/state", json={"observation": observation_dict(0)}).status_code == 200
        for path, body in (
            ("/receive", recommendation("grid_trader", 0, "x")),
            ("/state", {"observation": observation_dict(1)}),
            ("/decisions", {"step": 0}),
        ):
            r = c.post(path, json=body, headers=headers)
            assert r.status_code == 403 and r.get_json()["field"] == field, (path, r.get_json())
        assert c.get("/messages").get_json() == [] and c.get("/decisions").get_json() == []
        assert c.get("/state").get_json()["step"] == 0
        # same origin (the dashboard's own page) and non-browser clients are fine
        same = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
        r = c.post("/receive", json=recommendation("grid_trader", 0, "x"), headers=same)
        assert r.status_code == 200, r.get_json()
    finally:
        app.extensions["energy_agents"].store.close()
