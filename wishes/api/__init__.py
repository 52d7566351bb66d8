"""The JSON API for other front ends (a WeChat mini-program, the HIS, a self-service machine):
/api/v1, described by the OpenAPI document at /api/v1/openapi.json, which flask-smorest
builds from the views and their marshmallow schemas (docs/api.md says why that library).

Programs, not people: its blueprint serves Audience.SERVICE, takes JSON (no CSRF token: no
cookie authenticates it), and answers every refusal as JSON (errors.py).
"""

from __future__ import annotations

from typing import Any

import flask_smorest
from flask import Flask, current_app, jsonify
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException

from ..audiences import AreaBlueprint, Audience
from . import auth, errors, schemas
from .errors import is_api_request

EXTENSION = "wishes.api"
VERSION = "1.0.0"


class Api(flask_smorest.Api):
    """flask-smorest's Api with this API's error body, and without its app-wide error handler
    (the app's pages keep theirs; the API blueprint has its own: errors.py)."""

    ERROR_SCHEMA = schemas.Error

    def _register_error_handlers(self) -> None:
        pass


document = AreaBlueprint("api_document", __name__, audience=Audience.SERVICE, url_prefix="/api/v1")


@document.get("/openapi.json")
def openapi_json():
    return jsonify(current_app.extensions[EXTENSION].spec.to_dict())


def _rowid_schema(_converter: Any) -> dict[str, Any]:
    return {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    """Register the API's blueprints (the app's `int` converter must be RowId already)."""
    from .views import bp

    api = Api(
        spec_kwargs={
            "title": "点亮微心愿 API",
            "version": VERSION,
            "openapi_version": "3.0.3",
            "info": {
                "description": "Patients' micro-wishes and questionnaires for other front ends. "
                'Errors: {"error": {"code", "message", "fields"?}} (README, API).'
            },
        }
    )
    api.init_app(app)
    api.register_converter(app.url_map.converters["int"], _rowid_schema)
    api.spec.components.security_scheme("token", auth.SCHEME)
    csrf.exempt(bp)
    api.register_blueprint(bp)
    app.register_blueprint(document)
    app.extensions[EXTENSION] = api


def error_for(error: HTTPException):
    """The JSON answer to a refusal of a path under /api/ that no API view took (a 404, a 405)."""
    return errors.handle_http(error)


__all__ = ["error_for", "init_app", "is_api_request"]
