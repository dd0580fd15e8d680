"""What the portal's tests share: nodes with people, a real Chromium, and the checks every page
must pass (no console error, no serious or critical axe-core violation, usable at 375 px),
with a screenshot of each page as a test artefact.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright without a browser download;
axe-core comes from npm (``node_modules``); both are installed by ``scripts/setup.sh test``.
Screenshots go to ``test-artifacts/portal/<lang>/``, or to the folder ``TRUSTSPACE_SCREENSHOTS``
names (``docs/screenshots`` refreshes the documented set).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from trustspace.cli.localnode import DemoNode

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(os.environ.get("TRUSTSPACE_SCREENSHOTS") or ROOT / "test-artifacts" / "portal")
PASSWORD = "portal test secret"
LOCALES = {"en": "en-US", "zh": "zh-CN"}
NARROW = 375


def chromium() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        pytest.fail(
            "Chromium is missing: run scripts/setup.sh test (it installs Debian's chromium)"
        )
    return found


def add_user(node: DemoNode, username: str, *roles: str, password: str = PASSWORD) -> None:
    """``trustspace user add`` on the node's own store, as its operator would."""
    args = [sys.executable, "-m", "trustspace", "user", "add", username, "--password-stdin",
            "--data-dir", str(node.dir)]  # fmt: skip
    if "TRUSTSPACE_DATABASE" in node.extra_env:
        args += ["--database", node.extra_env["TRUSTSPACE_DATABASE"]]
    for role in roles:
        args += ["--role", role]
    done = subprocess.run(args, input=password + "\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


OPEN: list[httpx.Client] = []
"""Clients made by a test, closed after it (:func:`close_clients`)."""


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def client(node: DemoNode) -> httpx.Client:
    """An HTTP client that keeps the portal's cookies as Chromium does on loopback: Python's
    cookie jar sends a ``Secure`` cookie over https only, Chromium also to 127.0.0.1."""
    made = httpx.Client(base_url=node.url, follow_redirects=False, timeout=30)

    def keep(response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";")[0].strip('"')
            made.cookies.delete(name)
            if "max-age=0" not in header.lower():
                made.cookies.set(name, value, path="/portal")

    made.event_hooks["response"] = [keep]
    OPEN.append(made)
    return made


def session(node: DemoNode, username: str, password: str = PASSWORD) -> httpx.Client:
    """An HTTP client signed in to the portal (cookies kept, as a browser would)."""
    client = globals()["client"](node)
    client.get("/portal/login")
    token = client.cookies.get("ts_login")
    answer = client.post("/portal/login", data={"csrf": token, "username": username,
                                                "password": password, "next": "/portal"})  # fmt: skip
    assert answer.status_code == 303, answer.text
    return client


def csrf_of(client: httpx.Client, path: str = "/portal") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


@dataclass
class Checked:
    """What the page checks found, per page name."""

    pages: list[str] = field(default_factory=list)


class Browser:
    """One Chromium for a test session; a context per person and language."""

    def __init__(self, playwright: Any) -> None:
        self.browser = playwright.chromium.launch(executable_path=chromium(),
                                                  args=["--no-sandbox"])  # fmt: skip
        self.axe = AXE.read_text() if AXE.exists() else None

    def page(self, lang: str, *, width: int = 1280) -> Any:
        context = self.browser.new_context(locale=LOCALES[lang],
                                           extra_http_headers={"Accept-Language": LOCALES[lang]},
                                           viewport={"width": width, "height": 900},
                                           accept_downloads=True)  # fmt: skip
        page = context.new_page()
        page.errors = []  # console errors and uncaught exceptions, checked by check()
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.status = 200  # of the page's document, last loaded

        def loaded(response: Any) -> None:
            if response.request.resource_type == "document" and response.frame == page.main_frame:
                page.status = response.status

        page.on("response", loaded)
        page.lang = lang
        return page

    def close(self) -> None:
        self.browser.close()


def sign_in(page: Any, node: DemoNode, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{node.url}/portal/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    assert "/portal/login" not in page.url, page.content()


def check(page: Any, name: str) -> None:
    """The page as it is now: screenshot, axe-core, console, and the 375 px layout."""
    folder = SHOTS / page.lang
    folder.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    # A refusal shown on its form is a 4xx page on purpose: Chromium logs that one load.
    own = f"the server responded with a status of {page.status}"
    page.errors = [e for e in page.errors if not (page.status >= 400 and own in e)]
    assert page.errors == [], (name, page.errors)
    if page.evaluate("document.documentElement.lang") == "zh-Hans":
        assert page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '数据')"), name
    if AXE.exists():
        page.evaluate(AXE.read_text() + "\n;0")
        found = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => v.id + ': ' + v.help + ' ' + v.nodes.map(n => n.target.join(' ')).join(', '))"
        )
        assert found == [], (name, found)
    else:
        pytest.fail(f"axe-core is missing at {AXE}: run scripts/setup.sh test (npm ci)")
    size = page.viewport_size
    page.set_viewport_size({"width": NARROW, "height": 800})
    overflow = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size(size)
    assert overflow <= NARROW + 1, (name, f"{overflow} px wide at {NARROW} px")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = Browser(pw)
        yield b
        b.close()
