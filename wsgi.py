"""Entry point for WSGI servers: `gunicorn wsgi:app`."""

from wishes import create_app

app = create_app()
