"""The Docker-less S3 server: start/stop/status/env, data survives a restart, put-if-absent holds under a race."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import uuid

import psutil
import pytest

from config.errors import ObjectStoreError
from config.settings import Settings
from ops.object_store import INTERNAL_PORTS, Credentials, ObjectStore, S3Client, free_ports, masked
from tests.conftest import REPO


def _store(state, bucket="lake-test") -> ObjectStore:
    settings = Settings()
    port, *internal = free_ports(1 + INTERNAL_PORTS)
    return ObjectStore(
        home=REPO / settings.object_store_home,
        version=settings.object_store_version,
        port=port,
        bucket=bucket,
        internal_ports=tuple(internal),
        state_home=state,
    )


@pytest.mark.integration
def test_start_status_stop_and_data_survives_a_restart(tmp_path):
    store = _store(tmp_path)
    assert store.start() is True
    try:
        assert store.start() is False  # second start while running: says so
        assert store.running()
        client = store.client()
        assert client.request("PUT", f"/{store.bucket}/kept.txt", body=b"still here")[0] == 200
        assert store.stop() is True
        assert not store.running()
        assert store.start() is True
        assert client.request("GET", f"/{store.bucket}/kept.txt") == (200, b"still here")
        pid = store.pid()
        os.kill(pid, signal.SIGKILL)  # a crash: what was acknowledged is still there on the next start
        psutil.Process(pid).wait(timeout=30)
        assert store.start() is True
        assert client.request("GET", f"/{store.bucket}/kept.txt") == (200, b"still here")
    finally:
        store.stop(timeout_s=5)  # the graceful stop is tested above; it takes SeaweedFS about 16 s
    assert store.stop() is False
    for private in (store.home / "credentials.json", store.state_dir / "s3.json"):
        assert stat.S_IMODE(private.stat().st_mode) == 0o600


@pytest.mark.integration
def test_it_listens_on_loopback_only_and_refuses_unsigned_or_wrongly_signed_requests(object_store):
    listening = {
        c.laddr
        for c in psutil.Process(object_store.pid()).net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening and {addr.ip for addr in listening} == {"127.0.0.1"}
    assert {addr.port for addr in listening} <= set(object_store.ports())
    with socket.create_connection((object_store.host, object_store.port)) as sock:
        sock.sendall(f"GET /{object_store.bucket} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(64).split()[1] == b"403"  # anonymous
    wrong = S3Client(
        object_store.host, object_store.port, Credentials(object_store.credentials().access_key_id, "not-the-secret")
    )
    assert wrong.request("GET", f"/{object_store.bucket}")[0] == 403


@pytest.mark.integration
def test_put_if_absent_lets_exactly_one_of_many_simultaneous_writers_create_a_key(object_store):
    """The guarantee a Delta commit rests on: `If-None-Match: *` creates a key once, whoever races for it."""
    client = object_store.client()
    writers, rounds = 8, 8
    for round_ in range(rounds):
        key = f"/{object_store.bucket}/race/{uuid.uuid4().hex}.json"
        barrier = threading.Barrier(writers)
        statuses: dict[int, int] = {}

        def put(
            writer: int, key: str = key, barrier: threading.Barrier = barrier, statuses: dict[int, int] = statuses
        ) -> None:
            barrier.wait()
            statuses[writer] = client.request("PUT", key, body=b"writer %d" % writer, headers={"If-None-Match": "*"})[0]

        threads = [threading.Thread(target=put, args=(w,)) for w in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        winners = [w for w, status in statuses.items() if status == 200]
        assert len(winners) == 1, f"round {round_}: {statuses}"
        assert sorted(statuses.values()) == [200] + [412] * (writers - 1), f"round {round_}: {statuses}"
        assert client.request("GET", key) == (200, b"writer %d" % winners[0])  # the winner's bytes, not overwritten


@pytest.mark.integration
def test_env_prints_exports_a_shell_can_eval(tmp_path):
    env = {
        **os.environ,
        "OBJECT_STORE_HOME": str(tmp_path),
        "OBJECT_STORE_PORT": "9555",
        "OBJECT_STORE_BUCKET": "my-lake",
    }
    out = subprocess.run(
        [sys.executable, "-m", "scripts.object_store", "env"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shell = subprocess.run(
        ["bash", "-c", out + '\nenv | grep -E "^(AWS_|LAKE_ROOT=)" | sort'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout
    exported = dict(line.split("=", 1) for line in shell.splitlines())
    stored = json.loads((tmp_path / "credentials.json").read_text())
    assert exported == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9555",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": stored["access_key_id"],
        "AWS_SECRET_ACCESS_KEY": stored["secret_access_key"],
        "AWS_ALLOW_HTTP": "true",
        "LAKE_ROOT": "s3://my-lake/lake",
    }
    assert "AWS_S3_ALLOW_UNSAFE_RENAME" not in out  # safe commits need no opt-out
    status = subprocess.run(
        [sys.executable, "-m", "scripts.object_store", "status"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 1 and "not running" in status.stdout


def test_credentials_are_generated_once_and_secrets_are_masked(tmp_path):
    store = ObjectStore(home=tmp_path, version="v0", port=9555)
    first = store.credentials()
    assert store.credentials() == first and first.secret_access_key not in repr(first)
    assert first.access_key_id != ObjectStore(home=tmp_path / "other", version="v0").credentials().access_key_id
    shown = masked(store.env())
    assert shown["AWS_SECRET_ACCESS_KEY"] == "****" and shown["AWS_ACCESS_KEY_ID"] == first.access_key_id


def test_missing_go_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ObjectStoreError, match=r"^'go' not found: install Go 1\.26\+"):
        ObjectStore(home=tmp_path, version="v0.0.0-20261109003541-7506e5f91cd6").install()


def test_a_failing_build_is_one_line(tmp_path, monkeypatch):
    fake_go = tmp_path / "bin" / "go"
    fake_go.parent.mkdir()
    fake_go.write_text("#!/bin/sh\necho 'go: first line' >&2\necho 'go: reason it failed' >&2\nexit 1\n")
    fake_go.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_go.parent}:{os.environ['PATH']}")
    with pytest.raises(
        ObjectStoreError,
        match=r"^fetching github.com/seaweedfs/seaweedfs@v1 failed: go: first line "
        r"\| go: reason it failed$",
    ):
        ObjectStore(home=tmp_path / "home", version="v1").install()


@pytest.mark.integration
def test_a_taken_port_is_one_line(tmp_path):
    store = _store(tmp_path)
    store.install()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", store.ports()[3]))
        taken.listen()
        with pytest.raises(ObjectStoreError, match=rf"^port {store.ports()[3]} on 127.0.0.1 is taken"):
            store.start()
    assert not store.running()
