"""The `wishes` command: Flask's CLI group (so `wishes run`, `wishes shell` work) plus ours."""

from flask.cli import FlaskGroup

from . import create_app

cli = FlaskGroup(create_app=create_app, add_version_option=False, help="点亮微心愿 commands.")
