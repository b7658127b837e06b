"""The monitoring dashboard: a Flask blueprint serving one static page and its assets.

The page reads everything from the server's JSON endpoints (``/messages``, ``/series``,
``/aggregate``, ``/decisions``, ``/kpis``) by polling from ``static/dashboard/dashboard.js``;
this module only serves files. Every response of the blueprint carries a Content-Security-Policy
that allows scripts, styles and requests from the server itself only, and no inline script:
agent messages are untrusted text, and the page renders them with ``textContent``.

Registered by the app factory: ``app.register_blueprint(dashboard.bp)`` (URL prefix
``/dashboard``; the assets are under ``/dashboard/static/``).
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, abort, request, url_for

STATIC_DIR = Path(__file__).parent / "static" / "dashboard"
PAGE_TEMPLATE = "index.html"
"""The page, with placeholders: served filled in at ``/dashboard``, never raw as a static file."""

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    )
)
"""No inline script or style, no eval, nothing from another origin."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

bp = Blueprint(
    "dashboard",
    __name__,
    url_prefix="/dashboard",
    static_folder=str(STATIC_DIR),
    static_url_path="/static",
)


@lru_cache(maxsize=1)
def _page_template() -> str:
    return (STATIC_DIR / PAGE_TEMPLATE).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _page_meta() -> tuple[str, str]:
    """The five agents' names and the KPI labels of the batch report, as JSON for meta tags."""
    from ...advisors.types import AGENT_NAMES
    from ...sim.kpis import KPI_LABELS

    return json.dumps(list(AGENT_NAMES)), json.dumps([list(x) for x in KPI_LABELS])


def render_page(api_base: str, static_base: str) -> str:
    """The dashboard HTML with the API and asset locations filled in (attribute-escaped)."""
    agents, labels = _page_meta()
    page = _page_template()
    page = page.replace("__API_BASE__", html.escape(api_base, quote=True))
    page = page.replace("__STATIC__", html.escape(static_base, quote=True))
    extra = (
        f'<meta name="energy-agents" content="{html.escape(agents, quote=True)}">\n'
        f'<meta name="energy-kpi-labels" content="{html.escape(labels, quote=True)}">\n'
    )
    return page.replace("<title>", extra + "<title>", 1)


@bp.get("")
@bp.get("/")
def page() -> Response:
    static_base = url_for("dashboard.static", filename="").rstrip("/")
    body = render_page(request.script_root, static_base)
    resp = Response(body, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.before_request
def _no_raw_template() -> None:
    if (
        request.endpoint == "dashboard.static"
        and (request.view_args or {}).get("filename") == PAGE_TEMPLATE
    ):
        abort(404)


@bp.after_request
def _security_headers(resp: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)
    return resp
