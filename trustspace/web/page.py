"""How a portal page is written, once: who may open it, how a form is checked, how it renders.

- :func:`get` and :func:`post` make routes from plain synchronous handlers that take a
  :class:`View` and return a response (they run in the thread pool, as the API's do).
- Every page but the sign-in page needs a live session (:mod:`trustspace.services.accounts`);
  without one a GET is sent to the sign-in page and a POST is refused (401).
- ``roles`` says who may open a route: a person with none of them gets 403 and nothing runs.
- Every POST carries the session's CSRF token in the ``csrf`` field (or, for a script's
  upload, the ``X-CSRF-Token`` header); without it the answer is 403 and nothing runs.  The
  session cookie is also ``SameSite=Strict``, so a cross-site form arrives without a session.
- Handlers raise the services' errors; the app's one table (:data:`trustspace.app.STATUS`)
  answers them, here as an HTML page in the person's language (:func:`error_page`).
- A successful POST ends with :meth:`View.redirect` (303, with a short message shown once).
"""

from __future__ import annotations

import hmac
import html
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from trustspace.operator.federation import Federation
from trustspace.operator.listings import Listings
from trustspace.operator.service import Operator
from trustspace.services import accounts
from trustspace.services.accounts import Person
from trustspace.services.errors import BadRequest
from trustspace.services.runtime import Runtime
from trustspace.web import i18n

PORTAL = "/portal"
UPLOADS = f"{PORTAL}/uploads"
"""The path whose bodies have the upload limits (files for a product)."""
SESSION_COOKIE = "ts_session"
LANG_COOKIE = "ts_lang"
LOGIN_COOKIE = "ts_login"
FLASH_COOKIE = "ts_flash"
ANYONE_SIGNED_IN: tuple[str, ...] = ()
MAX_FORM_FILES = 20
MAX_FORM_FIELDS = 200

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class NavItem:
    roles: tuple[str, ...]
    path: str
    label: str  # an English message id, translated when shown


@dataclass(frozen=True)
class OperatorParts:
    """What an operator's node adds: the registry, the federated catalog, the listings."""

    operator: Operator
    federation: Federation
    listings: Listings


@dataclass
class Portal:
    """What the portal's routes are given: the node's services and the portal's settings."""

    rt: Runtime
    idle: float
    absolute: float
    secure_cookies: bool
    assets: Path | None
    operator: OperatorParts | None = None
    """On an operator's node: its operator parts."""
    nav: list[NavItem] = field(default_factory=list)
    env: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
        self.env.filters["urldecode"] = urllib.parse.unquote
        for name in ("number", "percent", "money", "size", "when"):  # in the page's language
            self.env.filters[name] = _language_filter(name)


def _language_filter(name: str) -> Callable[..., str]:
    @jinja2.pass_context
    def apply(context: jinja2.runtime.Context, value: Any, *args: Any) -> str:
        return str(context[name](value, *args))

    return apply


def language(request: Request) -> str:
    return i18n.negotiate(request.headers.get("accept-language"), request.cookies.get(LANG_COOKIE))


class View:
    """One request as a handler sees it: the person, their language, the form, the answer."""

    def __init__(self, portal: Portal, request: Request, person: Person | None,
                 form: FormData | None = None) -> None:  # fmt: skip
        self.portal = portal
        self.rt = portal.rt
        self.ctx = portal.rt.ctx
        self.request = request
        self.person = person
        self.form = form
        self.lang = language(request)
        self.translations = i18n.translations(self.lang)
        self.fmt = i18n.Format(self.lang)
        self._flash_read = request.cookies.get(FLASH_COOKIE)

    @property
    def me(self) -> Person:
        assert self.person is not None
        return self.person

    def _(self, message: str, **values: Any) -> str:
        text = self.translations.gettext(message)
        return text % values if values else text

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default)[:1000]

    def field(self, name: str, required: bool = False, limit: int = 10000) -> str:
        value = self.form.get(name) if self.form is not None else None
        text = value.strip() if isinstance(value, str) else ""
        if required and not text:
            raise BadRequest(self._("'%(name)s' is required", name=self._(name)))
        if len(text) > limit:
            raise BadRequest(self._("'%(name)s' is too long", name=self._(name)))
        return text

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def files(self, name: str) -> list[UploadFile]:
        if self.form is None:
            return []
        return [f for f in self.form.getlist(name) if isinstance(f, UploadFile) and f.filename]

    def act(self, action: str, subject: str, **data: Any) -> None:
        """Write the evidence that this person did ``action`` (after the service did it)."""
        accounts.record_action(self.ctx, self.me, action, subject, **data)

    def context(self) -> dict[str, Any]:
        person = self.person
        nav = [item for item in self.portal.nav if person is not None and person.has(*item.roles)]
        path = self.request.url.path
        return {
            "_": self._,
            "gettext": self.translations.gettext,
            "ngettext": self.translations.ngettext,
            "lang": self.lang,
            "languages": i18n.LANGUAGES,
            "person": person,
            "csrf": person.csrf if person is not None else "",
            "nav": nav,
            "current": max(
                (i.path for i in nav if path == i.path or path.startswith(i.path + "/")),
                key=len,
                default=None,
            ),  # the one entry this page is under
            "path": path,
            "here": urllib.parse.quote(
                path + (f"?{self.request.url.query}" if self.request.url.query else ""), safe="/"
            ),
            "flash": self._flash_read,
            "assets": self.portal.assets is not None,
            "portal": PORTAL,
            **self.fmt.filters(),
        }

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        page = self.portal.env.get_template(template)
        html = page.render({**self.context(), **values})
        response = HTMLResponse(html, status_code=status, headers=HEADERS)
        if self._flash_read:
            response.delete_cookie(FLASH_COOKIE, path=PORTAL)
        return response

    def redirect(self, to: str, flash: str | None = None) -> Response:
        response = RedirectResponse(safe_next(to), status_code=303, headers=HEADERS)
        if flash:
            response.set_cookie(FLASH_COOKIE, urllib.parse.quote(flash)[:1500], max_age=60,
                                path=PORTAL, httponly=True, samesite="strict",
                                secure=self.portal.secure_cookies)  # fmt: skip
        return response


def safe_next(to: str | None) -> str:
    """Only a path of the portal: never an address elsewhere (an open redirect)."""
    if not to or not to.startswith(PORTAL) or to.startswith("//") or "\\" in to:
        return PORTAL
    return to


Handler = Callable[[View], Response]


def _person(portal: Portal, request: Request) -> Person | None:
    return accounts.session(portal.rt.ctx, request.cookies.get(SESSION_COOKIE),
                            idle=portal.idle, absolute=portal.absolute)  # fmt: skip


def _refuse(portal: Portal, request: Request, person: Person | None, status: int,
            message: str) -> Response:  # fmt: skip
    view = View(portal, request, person)
    return view.render("error.html", status=status, status_code=status, reason=view._(message))


def get(portal: Portal, path: str, handler: Handler,
        roles: Sequence[str] = ANYONE_SIGNED_IN, *, public: bool = False) -> Route:  # fmt: skip
    async def run(request: Request) -> Response:
        person = await run_in_threadpool(_person, portal, request)
        if person is None and not public:
            target = urllib.parse.quote(
                safe_next(
                    str(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
                )
            )
            return RedirectResponse(f"{PORTAL}/login?next={target}", status_code=303,
                                    headers=HEADERS)  # fmt: skip
        if roles and (person is None or not person.has(*roles)):
            return await run_in_threadpool(_refuse, portal, request, person, 403,
                                           i18n.N_("Your role may not open this page."))  # fmt: skip
        return await run_in_threadpool(handler, View(portal, request, person))

    return Route(path, run, methods=["GET"])


def post(portal: Portal, path: str, handler: Handler,
         roles: Sequence[str] = ANYONE_SIGNED_IN, *, public: bool = False) -> Route:  # fmt: skip
    async def run(request: Request) -> Response:
        person = await run_in_threadpool(_person, portal, request)
        if person is None and not public:
            return await run_in_threadpool(_refuse, portal, request, None, 401,
                                           i18n.N_("Your session has ended: sign in again."))  # fmt: skip
        if roles and (person is None or not person.has(*roles)):
            return await run_in_threadpool(_refuse, portal, request, person, 403,
                                           i18n.N_("Your role may not do this."))  # fmt: skip
        form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
        try:
            expected = person.csrf if person is not None else request.cookies.get(LOGIN_COOKIE, "")
            given = request.headers.get("x-csrf-token") or form.get("csrf")
            if not (expected and isinstance(given, str)
                    and hmac.compare_digest(given.encode(), expected.encode())):  # fmt: skip
                return await run_in_threadpool(
                    _refuse,
                    portal,
                    request,
                    person,
                    403,
                    i18n.N_(
                        "This form has expired or did not come from this portal: open the page again."
                    ),
                )
            return await run_in_threadpool(handler, View(portal, request, person, form))
        finally:
            await form.close()

    return Route(path, run, methods=["POST"])


def login_token() -> str:
    return secrets.token_urlsafe(24)


def error_page(portal: Portal) -> Callable[[Request | None, int, str], Response]:
    """The portal's error answer for the app's table (an HTML page in the person's language)."""

    def render(request: Request | None, status: int, reason: str) -> Response:
        if request is None:  # refused at the edge, before any route: no person, no language
            text = html.escape(reason)
            return HTMLResponse(f'<!doctype html><html lang="en"><title>{status}</title>'
                                f"<main><h1>{status}</h1><p>{text}</p></main></html>",
                                status_code=status, headers=HEADERS)  # fmt: skip
        view = View(portal, request, None)
        return view.render("error.html", status=status, status_code=status, reason=reason)

    return render


Routes = Callable[[Portal], list[Route]]
Mapped = Mapping[str, Awaitable[Response]]
