"""Fixtures for the webhook service: a program with service settings, a wired service and app."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from huey import RedisHuey, SqliteHuey

from issuebot.app import create_app
from issuebot.config import load_program
from issuebot.service import Service, open_service
from issuebot.store import Store
from tests.conftest import program_data, write_program
from tests.service.asgi_client import AsgiClient
from tests.service.helpers import SECRET, SECRET_ENV, RecordingHandler, StandInProvider


def service_program(tmp_path: Path, **service: Any) -> Path:
    settings = {"webhook_secret_env": SECRET_ENV, "lease_seconds": 60, **service}
    return write_program(tmp_path / "program.yml", program_data(service=settings))


@pytest.fixture
def program(tmp_path: Path) -> Any:
    return load_program(service_program(tmp_path))


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def provider() -> StandInProvider:
    return StandInProvider()


@pytest.fixture
def service(program: Any, handler: RecordingHandler, provider: StandInProvider, clock: Any,
            monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """The default service: the queue's tasks in the inbox's SQLite file, written with the deliveries.
    A test marked `queue_apart` gets its queue in a file of its own, which can be down on its own."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    huey = None
    if request.node.get_closest_marker("queue_apart"):
        huey = SqliteHuey("issuebot-apart", filename=str(tmp_path / "queue.db"), results=False, utc=True)
    made = open_service(program, handler=handler, provider_factory=lambda _program: provider, clock=clock, huey=huey)
    yield made
    made.close()


@pytest.fixture
def client(service: Service) -> Any:
    return create_app(service).test_client()


@pytest.fixture(params=["flask", "asgi"])
def either_receiver(request: pytest.FixtureRequest, service: Service) -> Iterator[Any]:
    """The Flask endpoint and the event-loop path `issuebot serve` runs: one receive code, both must agree."""
    if request.param == "flask":
        yield create_app(service).test_client()
        return
    client = AsgiClient(service)
    yield client
    client.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The inbox on SQLite, and on the shared PostgreSQL under a table prefix of its own."""
    if request.param == "sqlite":
        made = Store(f"sqlite:///{tmp_path / 'inbox.db'}")
    else:
        url = request.getfixturevalue("postgres_url")
        made = Store(url, prefix=f"t{uuid.uuid4().hex[:10]}_")
    made.create_schema()
    yield made
    if request.param != "sqlite":
        made.drop_schema()
    made.dispose()


@pytest.fixture(params=["inbox", "sqlite", "redis"])
def huey(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """The queue in the inbox's own SQLite file (None: what open_service makes without a queue_url), on
    a SQLite file of its own, and on the shared Redis under a queue name of its own."""
    if request.param == "inbox":
        yield None
    elif request.param == "sqlite":
        made = SqliteHuey("issuebot-test", filename=str(tmp_path / "queue.db"), results=False, utc=True)
        yield made
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisHuey(f"issuebot-test-{uuid.uuid4().hex[:10]}", url=url, results=False, utc=True)
        yield made
        made.flush()
