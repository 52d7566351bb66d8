import re

import pytest

from wishes import create_app
from wishes.organisation import store as organisation
from wishes.storage import connect, database_path


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "WISHES_DATA_DIR": str(tmp_path / "data"),
            "WISHES_MODELS_DIR": str(tmp_path / "models"),
        }
    )
    with connect(database_path(app)) as db:
        organisation.load_organisation(db, organisation.read_organisation_file())
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db(app):
    with connect(database_path(app)) as db:
        yield db


def csrf_token(client, path):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


@pytest.fixture
def submit_wish(client):
    """Post the phone form like a browser would (token from the page), returning the response."""

    def submit(path="/w/new", **fields):
        data = {
            "text": "希望护士站能借到吹风机",
            "department": "",
            "csrf_token": csrf_token(client, path),
        }
        data.update(fields)
        return client.post(path, data=data)

    return submit
