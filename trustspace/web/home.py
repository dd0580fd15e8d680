"""Signing in and out, the language switch, the start page, and the node's people (admins)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from trustspace.services import accounts, status
from trustspace.services.errors import NotFound, Refused
from trustspace.web.i18n import LANGUAGES, N_
from trustspace.web.page import (
    HEADERS,
    LANG_COOKIE,
    LOGIN_COOKIE,
    PORTAL,
    SESSION_COOKIE,
    NavItem,
    Portal,
    View,
    get,
    login_token,
    post,
    safe_next,
)

NAV = [NavItem(("admin",), f"{PORTAL}/people", N_("People"))]

ROLE_NAMES = {
    "admin": N_("Administrator"),
    "provider": N_("Provider staff"),
    "buyer": N_("Data buyer"),
    "reviewer": N_("Operator reviewer"),
    "assessor": N_("Assessor"),
    "regulator": N_("Regulator (read-only)"),
}

REASONS = (
    N_("wrong user name or password"),
    N_("this account is disabled"),
    N_("this is the last active admin: add another admin first"),
)
"""The accounts service's refusals a person meets here, translated when shown."""

VENDOR = {
    "htmx.min.js": ("htmx.org", "dist", "htmx.min.js"),
    "echarts.min.js": ("echarts", "dist", "echarts.min.js"),
}
"""Front-end files served from the npm packages (``portal_assets``), by the name pages use."""


class Throttle:
    """Failed sign-ins per client address: after ``limit`` in ``window`` seconds the address is
    refused before any password is hashed, so one address cannot keep the hashing busy (the
    per-account limit is in :mod:`trustspace.services.accounts`).  In memory, for at most
    ``most`` addresses."""

    def __init__(self, limit: int = 20, window: float = 60.0, most: int = 10_000) -> None:
        self.limit, self.window, self.most = limit, window, most
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def blocked(self, address: str, now: float) -> bool:
        with self._lock:
            start, count = self._seen.get(address, (now, 0))
            return now - start < self.window and count >= self.limit

    def failed(self, address: str, now: float) -> None:
        with self._lock:
            start, count = self._seen.pop(address, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            self._seen[address] = (start, count + 1)
            while len(self._seen) > self.most:
                self._seen.popitem(last=False)


def routes(portal: Portal) -> list[BaseRoute]:
    ctx = portal.rt.ctx
    throttle = Throttle()

    def login_form(v: View, error: str | None = None, status_code: int = 200) -> Response:
        token = v.request.cookies.get(LOGIN_COOKIE) or login_token()
        response = v.render("login.html", status=status_code, login_csrf=token, error=error,
                            next=safe_next(v.query("next") or v.field("next")),
                            no_users=accounts.count(ctx) == 0)  # fmt: skip
        response.set_cookie(LOGIN_COOKIE, token, path=PORTAL, httponly=True, samesite="strict",
                            secure=portal.secure_cookies)  # fmt: skip
        return response

    def login_page(v: View) -> Response:
        if v.person is not None:
            return v.redirect(safe_next(v.query("next")))
        return login_form(v)

    def login(v: View) -> Response:
        client = v.request.client.host if v.request.client else "?"
        if throttle.blocked(client, time.monotonic()):
            return login_form(v, error=v._("Too many failed sign-ins from your address: wait a"
                                           " minute and try again."), status_code=429)  # fmt: skip
        try:
            token, _person = accounts.login(ctx, v.field("username", limit=64),
                                            v.field("password", limit=256))  # fmt: skip
        except Refused as exc:
            throttle.failed(client, time.monotonic())
            return login_form(v, error=v._(exc.reason), status_code=400)
        response = v.redirect(safe_next(v.field("next")))
        response.set_cookie(SESSION_COOKIE, token, max_age=int(portal.absolute), path=PORTAL,
                            httponly=True, samesite="strict", secure=portal.secure_cookies)  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE, path=PORTAL)
        return response

    def logout(v: View) -> Response:
        accounts.logout(ctx, v.me, everywhere=v.field("everywhere") == "1")
        response = RedirectResponse(f"{PORTAL}/login", status_code=303, headers=HEADERS)
        response.delete_cookie(SESSION_COOKIE, path=PORTAL)
        return response

    def switch(v: View) -> Response:
        lang = v.query("to")
        response = RedirectResponse(safe_next(v.query("next")), status_code=303, headers=HEADERS)
        if lang in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path=PORTAL,
                                samesite="lax", secure=portal.secure_cookies)  # fmt: skip
        return response

    def home(v: View) -> Response:
        return v.render("home.html", health=status.health(ctx), role_names=ROLE_NAMES)

    def people(v: View) -> Response:
        return v.render("people.html", users=accounts.users(ctx), roles=accounts.ROLES,
                        role_names=ROLE_NAMES)  # fmt: skip

    def person_add(v: View) -> Response:
        user = accounts.add_user(ctx, v.field("username", required=True, limit=64),
                                 v.field("password", required=True, limit=256),
                                 v.fields("roles"), display_name=v.field("display_name", limit=100),
                                 actor=v.me.actor())  # fmt: skip
        return v.redirect(f"{PORTAL}/people", v._("%(name)s was added.", name=user.username))

    def person_change(v: View) -> Response:
        user_id = v.request.path_params["id"]
        what = v.field("change", required=True)
        if what == "roles":
            user = accounts.change(ctx, user_id, v.me.actor(), roles=tuple(v.fields("roles")))
        elif what in ("disable", "enable"):
            user = accounts.change(ctx, user_id, v.me.actor(), disabled=what == "disable")
        elif what == "password":
            user = accounts.change(ctx, user_id, v.me.actor(),
                                   password=v.field("password", required=True, limit=256))  # fmt: skip
        else:
            raise NotFound(v._("no such change"))
        return v.redirect(f"{PORTAL}/people", v._("%(name)s was changed; their sessions ended.",
                                                   name=user.username))  # fmt: skip

    async def vendor(request: object) -> Response:
        from starlette.requests import Request

        assert isinstance(request, Request)
        name = request.path_params["name"]
        parts = VENDOR.get(name)
        if portal.assets is None or parts is None:
            raise HTTPException(404, "no such file")
        return FileResponse(portal.assets.joinpath(*parts), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})  # fmt: skip

    return [
        get(portal, PORTAL, home),
        get(portal, f"{PORTAL}/login", login_page, public=True),
        post(portal, f"{PORTAL}/login", login, public=True),
        post(portal, f"{PORTAL}/logout", logout),
        get(portal, f"{PORTAL}/language", switch, public=True),
        get(portal, f"{PORTAL}/people", people, ("admin",)),
        post(portal, f"{PORTAL}/people", person_add, ("admin",)),
        post(portal, f"{PORTAL}/people/{{id}}", person_change, ("admin",)),
        Route(f"{PORTAL}/vendor/{{name}}", vendor, methods=["GET"]),
    ]
