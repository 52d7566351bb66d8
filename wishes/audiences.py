"""Who a page is for, declared by the blueprint that serves it.

Every blueprint says whom it serves: a patient on their own phone, patients in turn at the
lobby kiosk, staff at a desk, or no one in particular (files and monitors). Everything that
depends on it follows from that one declaration, never from the URL: the layout around the
page, the error page, the language rules (staff pages are Chinese only) and whether the
browser may keep the page (`Cache-Control: no-store`: on a shared kiosk or a ward's computer
the back button must not bring back what someone typed or read).

A page the kiosk and the phone both offer is one view registered on two blueprints, one per
audience (`intake` and `intake_kiosk`): inside it, `url_for(".thanks")` stays with the page's
own audience, and `twin("intake.wish_form")` names the same page of another area for it.

A request that matched no rule (a 404, a 405) has no blueprint: its audience is the one the
app's own rules declare for the longest leading part of its path (`/assessment/nope` is a
staff page, `/kiosk/nope` a kiosk page), and a patient's phone when no rule starts that way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from flask import Blueprint, Flask, current_app, has_request_context, render_template, request

EXTENSION = "wishes.audiences"


class Audience(StrEnum):
    PHONE = "phone"  # a patient on their own phone (also the page's words on printed cards)
    KIOSK = "kiosk"  # patients one after another at the lobby's touch screen
    STAFF = "staff"  # staff at a desk: Chinese only
    SERVICE = "service"  # files and monitors (static files, /vendor, /healthz): not a page

    @property
    def layout(self) -> str:
        """The template a page extends (a service's error page is a phone page)."""
        return LAYOUTS[self]

    @property
    def error_template(self) -> str:
        """The error page: the kiosk has its own, large, that starts over."""
        return "errors/kiosk.html" if self is Audience.KIOSK else "errors/page.html"

    @property
    def home(self) -> str:
        """The endpoint a page of this audience goes back to when the visitor is done."""
        return HOMES[self]

    @property
    def chinese_only(self) -> bool:
        """Staff pages are in Simplified Chinese whatever the visitor chose."""
        return self is Audience.STAFF

    @property
    def is_page(self) -> bool:
        """A page people read (not a file or a monitor's answer): it has a language, and the
        browser must not keep it (`no-store`)."""
        return self is not Audience.SERVICE

    @property
    def shared_screen(self) -> bool:
        """One screen for many patients in turn: what one typed must not reach the next."""
        return self is Audience.KIOSK


LAYOUTS = {
    Audience.PHONE: "layouts/phone.html",
    Audience.KIOSK: "layouts/kiosk.html",
    Audience.STAFF: "layouts/staff.html",
    Audience.SERVICE: "layouts/phone.html",
}
HOMES = {
    Audience.PHONE: "home.index",
    Audience.KIOSK: "intake_kiosk.welcome",
    Audience.STAFF: "board.index",
    Audience.SERVICE: "home.index",
}


class AreaBlueprint(Blueprint):
    """A blueprint that says whom it serves.

    `area` names the part of the app it belongs to, when one area serves two audiences with
    the same views (`intake_kiosk` is the kiosk's `intake`): see `twin`.
    """

    def __init__(
        self, name: str, import_name: str, *, audience: Audience, area: str | None = None, **kw
    ):
        super().__init__(name, import_name, **kw)
        self.audience = Audience(audience)
        self.area = area or name


class UndeclaredAudience(LookupError):
    """A route whose blueprint does not say whom it serves."""


def of_endpoint(app: Flask, endpoint: str) -> Audience:
    """The audience an endpoint's blueprint declares (Flask's own static files: a service)."""
    if endpoint == "static":
        return Audience.SERVICE
    name = endpoint.rpartition(".")[0]
    audience = getattr(app.blueprints.get(name), "audience", None)
    if audience is None:
        raise UndeclaredAudience(
            f"{endpoint!r}: its blueprint must be an AreaBlueprint with an audience"
        )
    return audience


def _segments(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.split("/") if part)


def _leading_segments(rule: str) -> tuple[str, ...]:
    """The whole segments of a rule before its first variable: /t/<code> -> ("t",)."""
    fixed, variable, _rest = rule.partition("<")
    if variable:
        fixed = fixed.rpartition("/")[0]  # the segment the variable is in is not whole
    return _segments(fixed)


def _by_path(app: Flask) -> dict[tuple[str, ...], Audience]:
    """Each leading part of the app's rules -> the audience most of the rules under it declare.

    Only the rules' own declarations count; the root is left out (every rule is under it).
    """
    counts: dict[tuple[str, ...], Counter] = defaultdict(Counter)
    for rule in app.url_map.iter_rules():
        audience = of_endpoint(app, rule.endpoint)
        segments = _leading_segments(rule.rule)
        for length in range(1, len(segments) + 1):
            counts[segments[:length]][audience] += 1
    return {prefix: counter.most_common(1)[0][0] for prefix, counter in counts.items()}


def for_path(app: Flask, path: str) -> Audience:
    """The audience of a path no rule matched: that of the longest declared leading part."""
    known = app.extensions[EXTENSION]
    segments = _segments(path)
    for length in range(len(segments), 0, -1):
        if (audience := known.get(segments[:length])) is not None:
            return audience
    return Audience.PHONE


def current() -> Audience:
    """The audience of the page being served."""
    if not has_request_context():
        return Audience.PHONE
    # Flask's stubs type `current_app` as the app, not the LocalProxy it is: the proxy's
    # own method is unknown to them.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    blueprint = app.blueprints.get(request.blueprint or "")
    if (audience := getattr(blueprint, "audience", None)) is not None:
        return audience
    if request.endpoint == "static":
        return Audience.SERVICE
    # No rule matched (404, 405), so no blueprint: what the rules under this path declare.
    return for_path(app, request.path)


def twin(endpoint: str) -> str:
    """`endpoint` of the same area for the current audience, when the area serves it.

    On a kiosk page `twin("intake.wish_form")` is "intake_kiosk.wish_form"; on a phone page it
    is "intake.wish_form".
    """
    name, _dot, view = endpoint.rpartition(".")
    here = current()
    area = getattr(current_app.blueprints.get(name), "area", name)
    for blueprint in current_app.blueprints.values():
        if (
            isinstance(blueprint, AreaBlueprint)
            and blueprint.area == area
            and blueprint.audience is here
        ):
            return f"{blueprint.name}.{view}"
    return endpoint


def error_page(code: int | str, **context: Any) -> str:
    """The error page of the current audience, in its layout."""
    return render_template(current().error_template, code=code, **context)


# The mark `patient_languages` leaves on a view function.
PATIENT_LANGUAGES = "patient_languages"


def patient_languages(view: Callable) -> Callable:
    """Mark a staff view whose page is printed for patients (a questionnaire's QR cards): its
    words follow the visitor's language; the rest (layout, errors, headers) stays staff's."""
    setattr(view, PATIENT_LANGUAGES, True)
    return view


def chinese_only() -> bool:
    """True on staff pages, which are in Simplified Chinese whatever the visitor chose."""
    if not current().chinese_only:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, PATIENT_LANGUAGES, False)


def init_app(app: Flask) -> None:
    """After every blueprint is registered: refuse an undeclared one, learn the paths."""
    app.extensions[EXTENSION] = _by_path(app)

    @app.context_processor
    def _audience_globals():
        audience = current()
        return {"audience": audience, "layout": audience.layout}
