"""What a patient typed into a form, carried from the form's POST to the GET that follows.

A patient form (the wish form, a questionnaire) answers two kinds of POST with a redirect to
its own GET (post/redirect/get), so that the browser's history never holds the answer to a
POST: Back to one showed Chrome's "Confirm Form Resubmission" instead of a page.

- A submission with a mistake: the GET shows the form again with its messages.
- The language switch (简 / 繁 / EN): on a form page its buttons submit the form to the same
  page in the other language, so what was typed comes along, without JavaScript. The GET shows
  the form as it was typed, with no messages.

What was typed rides in the session (a signed cookie) for that one request; the next request
of any other page forgets it, so at the kiosk it never reaches the next patient. A cookie holds
about 4 KB: a form whose text is too long for it (a pasted essay) is answered directly, as
before, rather than lose a character.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from . import audiences

KEY = "draft"
# The name of the language switch's buttons on a form page (templates/_language.html).
SWITCH_FIELD = "switch_language"
# The session cookie's size with a draft in it, at most: browsers drop a cookie over 4096
# bytes, and werkzeug warns from 4093 on, counting the cookie's attributes too.
COOKIE_LIMIT = 3800


@dataclass(frozen=True)
class Draft:
    formdata: MultiDict
    check: bool  # a submission, to be checked again; False for a language switch


def switching_language() -> bool:
    """True when this POST is the language switch of a form page, not a submission."""
    return request.method == "POST" and SWITCH_FIELD in request.form


def back_to_form(form: FlaskForm, *, check: bool) -> Response | None:
    """Keep what was posted to `form` for this page's GET and redirect there (303, in the
    language the switch asked for); None when it is too large for the session cookie."""
    typed = [(name, value) for name, value in request.form.items(multi=True) if name in form]
    session[KEY] = {"path": request.path, "form": typed, "check": check}
    if _cookie_size() > COOKIE_LIMIT:
        session.pop(KEY)
        return None
    query = request.query_string.decode("latin-1")
    return redirect(request.script_root + request.path + (f"?{query}" if query else ""), 303)


def take() -> Draft | None:
    """What the POST before kept for this page (once)."""
    kept = session.pop(KEY, None) if request.method == "GET" else None
    if not kept or kept.get("path") != request.path:
        return None
    return Draft(MultiDict(kept["form"]), bool(kept["check"]))


def _cookie_size() -> int:
    interface = current_app.session_interface
    if not isinstance(interface, SecureCookieSessionInterface):
        return 0  # a server-side session: no cookie to outgrow
    serializer = interface.get_signing_serializer(current_app)
    return len(serializer.dumps(dict(session))) if serializer else 0


def _forget_elsewhere() -> None:
    # A draft is for the very next page, its own: any other page (the kiosk's idle reset
    # to the welcome page included) drops it. Files are not pages and leave it be.
    if KEY in session and audiences.current().is_page and request.path != session[KEY]["path"]:
        session.pop(KEY)


def init_app(app: Flask) -> None:
    app.before_request(_forget_elsewhere)
    app.jinja_env.globals["language_switch_field"] = SWITCH_FIELD
