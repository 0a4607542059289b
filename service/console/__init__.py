"""The operator's console at /console/: server-rendered pages behind the API key.

Pages: the deferred queue and the audit list (label a record in one click), the serving policy
(certificate, rule health, version history) and the live report. A login form takes an API key
and sets a signed, HttpOnly, SameSite=Strict cookie (`console.session`); every page without it
redirects to the login, every form post without it answers 401, and form posts carry a CSRF
token. The pages are Jinja2 templates over `console.views`, which calls the same functions as
the API and the CLI.

FastAPI reads the handlers' annotations, so this module does not postpone them.

Lists share one template (`list.html`) and one item template: the deferred queue and the audit
list differ only in which store query fills them. Pages are read by cursor, like the API's.
"""

from typing import Annotated
from urllib.parse import quote, urlencode, urlsplit

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from autoresolve.service.console import session as sessions
from autoresolve.service.console import views
from autoresolve.service.errors import NotReady, ProblemError
from autoresolve.service.routes.labels import write_labels
from autoresolve.service.state import Service
from autoresolve.service.store import LabelError, StoreUnavailable

PREFIX = "/console"
PAGE_SIZE = 20
LISTS = {
    "deferred": ("Deferred queue", "Nothing is waiting: every deferred record has a label."),
    "audits": (
        "Audit list",
        "No audited decision is waiting for a label (a share of automatic decisions is "
        "sampled as they are made: AUTORESOLVE_AUDIT_SHARE).",
    ),
}


class LoginRequired(Exception):
    """No valid session cookie: pages redirect to the login form, form posts answer 401."""

    def __init__(self, path: str):
        self.path = path


def install(app: FastAPI, svc: Service) -> None:
    """Add the console's routes, its static files and its login redirect to `app`."""
    app.mount(
        f"{PREFIX}/static",
        StaticFiles(packages=[("autoresolve.service.console", "static")]),
        name="console-static",
    )
    app.include_router(router(svc))
    app.add_exception_handler(LoginRequired, _login_required)  # type: ignore[arg-type]


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("autoresolve.service.console", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["num"] = _num
    return Jinja2Templates(env=env)


def _num(value: object, digits: int = 3) -> str:
    """A cell as the report shows it (`—` for missing), floats to `digits` places."""
    from autoresolve.model.report_html import cell_text

    return f"{value:.{digits}f}" if isinstance(value, float) else cell_text(value)


async def _login_required(request: Request, exc: LoginRequired) -> Response:
    if request.method in ("GET", "HEAD"):
        return RedirectResponse(f"{PREFIX}/login?next={quote(exc.path)}", status_code=303)
    return HTMLResponse(
        "<!doctype html><title>Log in again</title><p>Your console session has ended. "
        f"<a href='{PREFIX}/login'>Log in again</a>.</p>",
        status_code=401,
    )


def _safe_next(target: str | None) -> str:
    """Only a console path: a login form must not redirect anywhere else."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not parts.path.startswith(f"{PREFIX}/"):
        return f"{PREFIX}/queue"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def router(svc: Service) -> APIRouter:
    templates = _templates()
    keys = svc.settings.keys
    api = APIRouter(prefix=PREFIX, include_in_schema=False)

    def current(request: Request) -> sessions.Session:
        found = sessions.check(request.cookies.get(sessions.COOKIE), keys)
        if found is None:
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(path)
        return found

    Session = Annotated[sessions.Session, Depends(current)]

    def checked(session: sessions.Session, csrf: str) -> None:
        if not sessions.csrf_ok(session, csrf):
            raise LoginRequired(f"{PREFIX}/queue")

    def page(request: Request, name: str, session: sessions.Session | None, **ctx: object):
        ctx |= {"domain": svc.domain.name, "csrf": session.csrf if session else "", "page": name}
        ctx.setdefault("queue", "")
        status = int(ctx.pop("status", 200))  # type: ignore[call-overload]
        return templates.TemplateResponse(request, f"{name}.html", ctx, status_code=status)

    @api.get("")
    @api.get("/")
    def home(session: Session) -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/queue", status_code=303)

    @api.get("/login")
    def login_form(request: Request, next: str | None = None) -> Response:
        return page(request, "login", None, next=_safe_next(next), error=None)

    @api.post("/login")
    def login(
        request: Request,
        api_key: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "",
    ) -> Response:
        token = sessions.login(api_key, keys)
        if token is None:
            error = "That API key is not valid." if api_key else "Enter an API key."
            return page(request, "login", None, next=_safe_next(next), error=error, status=401)
        out = RedirectResponse(_safe_next(next), status_code=303)
        out.set_cookie(
            sessions.COOKIE,
            token,
            max_age=sessions.SESSION_SECONDS,
            path=PREFIX,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return out

    @api.post("/logout")
    def logout(session: Session, csrf: Annotated[str, Form()] = "") -> Response:
        checked(session, csrf)
        out = RedirectResponse(f"{PREFIX}/login", status_code=303)
        out.delete_cookie(sessions.COOKIE, path=PREFIX, httponly=True, samesite="strict")
        return out

    @api.get("/queue")
    def queue(
        request: Request,
        session: Session,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        start: Annotated[int, Query(ge=0, le=10**9)] = 0,
        labelled: str | None = None,
        error: str | None = None,
    ) -> Response:
        return listed(request, session, "deferred", cursor, start, labelled, error)

    @api.get("/audits")
    def audits(
        request: Request,
        session: Session,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        start: Annotated[int, Query(ge=0, le=10**9)] = 0,
        labelled: str | None = None,
        error: str | None = None,
    ) -> Response:
        return listed(request, session, "audits", cursor, start, labelled, error)

    def listed(request, session, queue, cursor, start, labelled, error) -> Response:
        title, empty = LISTS[queue]
        try:
            view = views.queue_view(svc, queue, PAGE_SIZE, cursor, start)
        except (StoreUnavailable, ProblemError) as exc:
            return page(request, "unavailable", session, title=title,
                        message=str(exc), status=503)  # fmt: skip
        return page(
            request,
            "list",
            session,
            title=title,
            item_template="items/deferred.html",
            empty=empty,
            labelled=labelled,
            error=error,
            **view,
        )

    @api.post("/labels")
    def label(
        session: Session,
        record_id: Annotated[str, Form(min_length=1, max_length=200)],
        resolution: Annotated[str, Form(min_length=1, max_length=200)],
        csrf: Annotated[str, Form()] = "",
        back: Annotated[str, Form(max_length=400)] = "queue",
        cursor: Annotated[str, Form(max_length=200)] = "",
        start: Annotated[int, Form(ge=0, le=10**9)] = 0,
    ) -> RedirectResponse:
        checked(session, csrf)
        where = "audits" if back == "audits" else "queue"
        query = {"start": start} | ({"cursor": cursor} if cursor else {})
        to = f"{PREFIX}/{where}?{urlencode(query)}"
        try:
            write_labels(svc, [(record_id, resolution)], source="console")
        except LabelError as exc:
            return RedirectResponse(f"{to}&error={quote(str(exc))}", status_code=303)
        done = quote(f"{record_id} → {resolution}")
        return RedirectResponse(f"{to}&labelled={done}", status_code=303)

    @api.get("/policy")
    def policy(request: Request, session: Session) -> Response:
        return shown(request, session, "policy", views.policy_view)

    @api.get("/report")
    def report(request: Request, session: Session) -> Response:
        return shown(request, session, "report", views.report_view)

    def shown(request: Request, session: sessions.Session, name: str, view) -> Response:
        """The page, or (no policy loaded yet, the store down) a page that says so: 503."""
        try:
            return page(request, name, session, **view(svc))
        except (NotReady, StoreUnavailable) as exc:
            return page(request, "unavailable", session, title=name.title(), message=str(exc),
                        status=503)  # fmt: skip

    return api
