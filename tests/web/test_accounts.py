"""Signing in to the portal of a real node over loopback: cookies, CSRF, roles, expiry,
sign-out everywhere, languages, and the people page in a real browser."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.web.portal import PASSWORD, Browser, add_user, check, client, csrf_of, session, sign_in
from trustspace.cli.localnode import DemoNode
from trustspace.store.db import Database


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoNode]:
    root = tmp_path_factory.mktemp("portal")
    n = DemoNode("hospital", root, {"TRUSTSPACE_SESSION_IDLE": "3"})
    n.start([])
    n.wait_ready()
    add_user(n, "root", "admin")
    add_user(n, "wang", "buyer")
    yield n
    n.stop()
    print(f"--- log ---\n{n.log_text()}")


def _users(node: DemoNode) -> list[tuple[str, str]]:
    db = Database(f"sqlite:///{node.dir / 'trustspace.db'}")
    try:
        with db.tx() as tx:
            return [
                (r["username"], r["roles"])
                for r in tx.all("SELECT username, roles FROM users ORDER BY username")
            ]
    finally:
        db.close()


def test_the_session_cookie_is_secure_httponly_and_strict(node: DemoNode) -> None:
    client_ = client(node)
    login = client_.get("/portal/login")
    assert login.status_code == 200
    assert "script-src 'self'" in login.headers["content-security-policy"]
    token = client_.cookies.get("ts_login")
    answer = client_.post("/portal/login", data={"csrf": token, "username": "wang",
                                                "password": PASSWORD})  # fmt: skip
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("ts_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/portal"} <= flags, cookie


def test_a_form_without_its_csrf_token_changes_nothing(node: DemoNode) -> None:
    admin = session(node, "root")
    before = _users(node)
    form = {"username": "intruder", "password": PASSWORD, "roles": "admin"}
    for sent in (form, {**form, "csrf": ""}, {**form, "csrf": "not-the-token"}):
        answer = admin.post("/portal/people", data=sent)
        assert answer.status_code == 403, answer.text
        assert "did not come from this portal" in answer.text
    assert _users(node) == before
    # the login form has its own token: a login posted from elsewhere starts no session
    fresh = client(node)
    answer = fresh.post("/portal/login", data={"username": "root", "password": PASSWORD})
    assert answer.status_code == 403 and "ts_session" not in fresh.cookies
    # with the token, the same form works
    answer = admin.post("/portal/people", data={**form, "username": "zhao", "roles": "buyer",
                                                "csrf": csrf_of(admin, "/portal/people")})  # fmt: skip
    assert answer.status_code == 303
    assert ("zhao", "buyer") in _users(node)


def test_a_role_without_the_right_is_refused_and_changes_nothing(node: DemoNode) -> None:
    buyer = session(node, "wang")
    assert buyer.get("/portal/people").status_code == 403
    before = _users(node)
    answer = buyer.post("/portal/people", data={"username": "mine", "password": PASSWORD,
                                                "roles": "admin", "csrf": csrf_of(buyer)})  # fmt: skip
    assert answer.status_code == 403 and _users(node) == before
    anonymous = client(node)
    assert anonymous.get("/portal/people").status_code == 303  # to the sign-in page
    assert anonymous.post("/portal/people", data={"username": "x"}).status_code == 401


def test_sign_out_everywhere_ends_every_session_and_idle_sessions_end(node: DemoNode) -> None:
    one, two = session(node, "wang"), session(node, "wang")
    assert one.get("/portal").status_code == 200 and two.get("/portal").status_code == 200
    assert (
        one.post("/portal/logout", data={"csrf": csrf_of(one), "everywhere": "1"}).status_code
        == 303
    )
    for signed in (one, two):
        answer = signed.get("/portal")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/portal/login")
    idle = session(node, "wang")
    time.sleep(3.5)  # the node's session_idle is 3 s
    assert idle.get("/portal").status_code == 303


def test_next_never_leaves_the_portal(node: DemoNode) -> None:
    for target in ("https://evil.example/", "//evil.example", "/api/datasets", "/portal\\@evil"):
        fresh = client(node)
        fresh.get("/portal/login")
        answer = fresh.post("/portal/login", data={"csrf": fresh.cookies.get("ts_login"),
                                                   "username": "root", "password": PASSWORD,
                                                   "next": target})  # fmt: skip
        assert answer.status_code == 303 and answer.headers["location"] == "/portal", target
        switch = fresh.get("/portal/language", params={"to": "zh", "next": target})
        assert switch.headers["location"] == "/portal", target


def test_errors_are_pages_in_the_persons_language(node: DemoNode) -> None:
    person = session(node, "wang")
    missing = person.get("/portal/no-such-page", headers={"accept-language": "zh-CN"})
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert 'lang="zh-Hans"' in missing.text and "返回首页" in missing.text
    english = person.get("/portal", headers={"accept-language": "en-GB,en;q=0.8"})
    assert "Welcome, wang" in english.text
    chosen = person.get("/portal/language", params={"to": "zh", "next": "/portal"})
    assert chosen.status_code == 303
    assert "欢迎，wang" in person.get("/portal", headers={"accept-language": "en"}).text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_admin_adds_a_person_in_the_browser(node: DemoNode, browser: Browser, lang: str) -> None:
    page = browser.page(lang)
    page.goto(f"{node.url}/portal")
    check(page, "sign-in")
    sign_in(page, node, "root")
    check(page, "start")
    page.goto(f"{node.url}/portal/people")
    page.fill("#new-username", f"li.{lang}")
    page.fill("#new-name", "李 Li")
    page.fill("#new-password", "a browser-made secret")
    page.check("form.stack input[name=roles][value=provider]")
    page.click("form.stack button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("p.flash").count() == 1
    check(page, "people")
    assert (f"li.{lang}", "provider") in _users(node)
    page.context.close()
