"""Entry point for WSGI servers: `gunicorn wsgi:app`."""

from wishes import create_serving_app

app = create_serving_app()
