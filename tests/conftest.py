"""Shared fixtures: one real Kafka broker and one real S3 server per test session, a fresh topic per test, a
temporary lake."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.kafka_io import ensure_topic
from config.settings import Settings
from ops.kafka_cluster import temporary_cluster
from ops.object_store import ObjectStore, temporary_object_store

REPO = Path(__file__).resolve().parent.parent
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """host:port of a real broker: KAFKA_BOOTSTRAP_SERVERS when set, else a local broker on free ports."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    with temporary_cluster(home=REPO / ".kafka", version=Settings().kafka_version) as cluster:
        yield cluster.bootstrap


@pytest.fixture(scope="session")
def object_store() -> Iterator[ObjectStore]:
    """A real S3-compatible server (SeaweedFS) on free loopback ports with a throwaway bucket and data folder.

    The server must be built (`scripts/test.sh` does it: `scripts/object_store.sh install`); without it the tests
    that need it fail, saying so, rather than skip quietly."""
    settings = Settings()
    if not ObjectStore(home=REPO / settings.object_store_home, version=settings.object_store_version).binary.is_file():
        pytest.fail(
            "the S3 server is not built: run scripts/object_store.sh install (scripts/test.sh does it)", pytrace=False
        )
    with temporary_object_store(
        home=REPO / settings.object_store_home, version=settings.object_store_version, bucket="test-lake"
    ) as store:
        yield store


@pytest.fixture
def lake_root(tmp_path: Path) -> Path:
    """An empty lake for one test."""
    root = tmp_path / "lake"
    root.mkdir()
    return root


def make_settings(**env: str | int | float | Path) -> Settings:
    """Settings from defaults plus env-style overrides (names as in .env.example); no .env file read."""
    return Settings.from_env({key: str(value) for key, value in env.items()}, dotenv=None)


@pytest.fixture
def settings(lake_root: Path) -> Settings:
    """Settings for a test without Kafka: a fresh lake."""
    return make_settings(LAKE_ROOT=lake_root)


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, lake_root: Path) -> Settings:
    """Settings for a test against the real broker: a fresh topic and consumer group, and a fresh lake."""
    suffix = uuid.uuid4().hex[:10]
    settings = make_settings(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        LAKE_ROOT=lake_root,
        TELEMETRY_TOPIC=f"test.telemetry.{suffix}",
        BRONZE_CONSUMER_GROUP=f"test-bronze-{suffix}",
    )
    ensure_topic(settings)
    return settings


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch, lake_root: Path) -> Path:
    """The app reads its settings from the environment: point it at the test lake and at no broker."""
    monkeypatch.setenv("LAKE_ROOT", str(lake_root))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    return lake_root
