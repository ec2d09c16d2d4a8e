"""How the pages are served: security headers, module MIME types, and markup a strict
Content-Security-Policy does not have to make exceptions for."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from app.web.routes import content_security_policy
from tests.support.harness import IO_TIMEOUT, relay_settings, running_relay
from tests.support.paths import REPO_ROOT

STATIC = REPO_ROOT / "app" / "web" / "static"


async def test_pages_and_modules_carry_the_security_headers(tmp_path: Path) -> None:
    async with (
        running_relay(relay_settings(tmp_path)) as relay,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{relay.port}", timeout=IO_TIMEOUT) as http,
    ):
        answers = {
            path: await http.get(path)
            for path in (
                "/",
                "/admin",
                "/static/js/voice.mjs",
                "/static/js/capture-worklet.mjs",
                "/static/css/app.css",
                "/api/admin/dashboard",
            )
        }
    for path, answer in answers.items():
        assert answer.status_code == 200, path
        headers = answer.headers
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy, path
        assert "style-src 'self';" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert f"ws://127.0.0.1:{relay.port}" in policy  # the call's websocket to this host
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "microphone=(self)" in headers["permissions-policy"]
    assert answers["/static/js/voice.mjs"].headers["content-type"].startswith("text/javascript")
    assert answers["/static/css/app.css"].headers["content-type"].startswith("text/css")
    assert answers["/api/admin/dashboard"].headers["cache-control"] == "no-store"
    assert "Customer ID" in answers["/"].text
    assert "Admin token" in answers["/admin"].text


def test_a_host_header_that_is_not_a_host_is_not_echoed() -> None:
    assert "ws://relay.example:8443" in content_security_policy("relay.example:8443")
    assert "ws://[::1]:8000" in content_security_policy("[::1]:8000")
    hostile = content_security_policy("x; script-src *")
    assert "script-src *" not in hostile
    assert hostile.endswith("connect-src 'self'")


def test_the_markup_needs_no_inline_script_or_style() -> None:
    pages = sorted(STATIC.glob("*.html"))
    assert [page.name for page in pages] == ["admin.html", "index.html"]
    for page in pages:
        html = page.read_text()
        for script in re.findall(r"<script\b[^>]*>", html):
            assert 'src="/static/js/' in script and 'type="module"' in script, script
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html), f"inline script in {page.name}"
        assert "<style" not in html, page.name
        assert not re.search(r"\sstyle=", html), page.name
        assert not re.search(r"\son[a-z]+=", html), f"inline handler in {page.name}"
