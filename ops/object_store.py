"""A real S3-compatible server without Docker: SeaweedFS, built once from the Go module proxy, on loopback.

Layout under `home` (git-ignored): `bin/<version>/weed` the server binary, `credentials.json` the access key and
secret generated on first use (mode 0600), `server-<port>/` its data, S3 identities (`s3.json`, 0600), log
(`server.log`) and pid file (under `state_home` instead, when given). Data survives stop/start.

One `weed server` process runs the master, a volume server, the filer and the S3 gateway; every one of them listens
on 127.0.0.1 only. The S3 gateway checks `If-None-Match: *` under a per-object write lock in the filer, so two
writers creating the same Delta commit file cannot both succeed (docs/object_store.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from config.errors import ObjectStoreError
from config.settings import Settings
from ops.local_kafka import port_open
from ops.processes import pid_alive, terminate

logger = logging.getLogger(__name__)

MODULE = "github.com/seaweedfs/seaweedfs"
REGION = "us-east-1"
# The S3 gateway's port and the seven internal ones (master, volume server, filer: HTTP and gRPC; S3 gRPC).
INTERNAL_PORTS = 7


@dataclass(frozen=True)
class Credentials:
    """The S3 access key and secret this server accepts; the secret never appears in repr or logs."""

    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='****')"


@dataclass(frozen=True, kw_only=True)
class ObjectStore:
    """One single-process SeaweedFS (master, volume, filer, S3 gateway) on loopback, with one bucket."""

    home: Path
    version: str
    port: int = 8333
    bucket: str = "lakehouse"
    internal_ports: tuple[int, ...] | None = None
    state_home: Path | None = None
    host: str = "127.0.0.1"

    @classmethod
    def for_settings(cls, settings: Settings) -> ObjectStore:
        return cls(
            home=settings.object_store_home,
            version=settings.object_store_version,
            port=settings.object_store_port,
            bucket=settings.object_store_bucket,
        )

    @property
    def binary(self) -> Path:
        return (self.home / "bin" / self.version / "weed").resolve()

    @property
    def state_dir(self) -> Path:
        return ((self.state_home or self.home) / f"server-{self.port}").resolve()

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "server.pid"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def lake_root(self) -> str:
        return f"s3://{self.bucket}/lake"

    def ports(self) -> tuple[int, ...]:
        """The S3 port, then master, master gRPC, volume, volume gRPC, filer, filer gRPC, S3 gRPC."""
        internal = self.internal_ports or tuple(range(self.port + 1, self.port + 1 + INTERNAL_PORTS))
        if len(internal) != INTERNAL_PORTS:
            raise ObjectStoreError(f"the object store needs {INTERNAL_PORTS} internal ports, got {len(internal)}")
        return (self.port, *internal)

    def install(self, *, timeout_s: float = 3600.0) -> Path:
        """Build the server from the Go module proxy into the cache, once; the path of the binary."""
        if self.binary.is_file():
            return self.binary
        if shutil.which("go") is None:
            raise ObjectStoreError(
                "'go' not found: install Go 1.26+ (apt-get install golang, or from go.dev) to "
                "build the S3 server (SeaweedFS)"
            )
        logger.info("building SeaweedFS %s from the Go module proxy into %s (once; minutes)", self.version, self.binary)
        started = time.monotonic()
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
        source = json.loads(
            _go(
                ["mod", "download", "-json", f"{MODULE}@{self.version}"],
                cwd=self.home,
                env=env,
                timeout_s=timeout_s,
                what=f"fetching {MODULE}@{self.version}",
            )
        )["Dir"]
        # Built inside the module's own folder, the module is the main module: its go.mod, go.sum and replace
        # directives apply as upstream tested them (`go install module@version` refuses modules with replaces).
        self.binary.parent.mkdir(parents=True, exist_ok=True)
        partial = self.binary.with_suffix(".partial")
        _go(
            ["build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", str(partial), "./weed"],
            cwd=Path(source),
            env=env,
            timeout_s=timeout_s - (time.monotonic() - started),
            what=f"building SeaweedFS {self.version}",
        )
        partial.rename(self.binary)
        logger.info(
            "built %s in %.0f s (%.0f MB)", self.binary, time.monotonic() - started, self.binary.stat().st_size / 1e6
        )
        return self.binary

    def credentials(self) -> Credentials:
        """The access key and secret, generated on first use and kept in the cache (mode 0600)."""
        path = self.home / "credentials.json"
        with contextlib.suppress(FileNotFoundError):
            stored = json.loads(path.read_text())
            return Credentials(stored["access_key_id"], stored["secret_access_key"])
        created = Credentials("LAKE" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30))
        self.home.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".credentials-{os.getpid()}.json")
        _write_private(
            draft, json.dumps({"access_key_id": created.access_key_id, "secret_access_key": created.secret_access_key})
        )
        try:
            os.link(draft, path)  # whole or not at all, and never replaced: two racing processes share the first
        except FileExistsError:
            return self.credentials()
        finally:
            draft.unlink()
        logger.info("generated S3 credentials (access key %s) in %s", created.access_key_id, path)
        return created

    def pid(self) -> int | None:
        """Pid of the running server, or None (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid, marker=str(self.state_dir)) else None

    def running(self) -> bool:
        return self.pid() is not None

    def client(self) -> S3Client:
        return S3Client(self.host, self.port, self.credentials())

    def _command(self) -> list[str]:
        s3, master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3_grpc = self.ports()
        data = self.state_dir / "data"
        return [
            str(self.binary),
            "-logtostderr",
            "server",
            f"-dir={data}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            "-master.telemetry=false",
            "-master.volumeSizeLimitMB=256",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-volume.max=0",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.preStopSeconds=1",
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            f"-s3.config={self.state_dir / 's3.json'}",
            "-s3.autoCreateBucket=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]

    def _configure(self) -> None:
        credentials = self.credentials()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "data").mkdir(exist_ok=True)
        identity = {
            "name": "lakehouse",
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            "credentials": [{"accessKey": credentials.access_key_id, "secretKey": credentials.secret_access_key}],
        }
        _write_private(self.state_dir / "s3.json", json.dumps({"identities": [identity]}, indent=2))

    def start(self, *, timeout_s: float = 120.0) -> bool:
        """Start the server, wait until S3 answers signed requests and create the bucket; False when it was
        already running."""
        if self.running():
            return False
        self.install()
        for port in self.ports():
            if port_open(self.host, port):
                raise ObjectStoreError(
                    f"port {port} on {self.host} is taken by another program: stop it, or move "
                    f"the object store with OBJECT_STORE_PORT (it uses {self.port}..{self.port + 7})"
                )
        self._configure()
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                self._command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.state_dir,
                start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        client = self.client()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ObjectStoreError(f"the S3 server exited with code {process.returncode}; see {self.log_file}")
            if port_open(self.host, self.port) and client.ready():
                client.create_bucket(self.bucket)
                logger.info("SeaweedFS is up at %s (pid %d), bucket %s", self.endpoint, process.pid, self.bucket)
                return True
            time.sleep(0.2)
        self.stop()
        raise ObjectStoreError(f"the S3 server did not answer within {timeout_s:.0f}s; see {self.log_file}")

    def stop(self, *, timeout_s: float = 30.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout_s`; False when it was not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        terminate(pid, timeout_s=timeout_s, marker=str(self.state_dir))
        self.pid_file.unlink(missing_ok=True)
        return True

    def storage_options(self) -> dict[str, str]:
        """What delta-rs (deltalake's `storage_options`) needs to use this server; the secret included.

        No locking provider and no AWS_S3_ALLOW_UNSAFE_RENAME: delta-rs commits with a put-if-absent
        (`If-None-Match: *`), which this server enforces.
        """
        credentials = self.credentials()
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": credentials.access_key_id,
            "AWS_SECRET_ACCESS_KEY": credentials.secret_access_key,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }

    def env(self) -> dict[str, str]:
        """The environment a shell needs to use the server: `storage_options` plus LAKE_ROOT on its bucket."""
        return {**self.storage_options(), "LAKE_ROOT": self.lake_root}


def masked(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with every secret replaced by ****, for logs."""
    return {key: "****" if "SECRET" in key else value for key, value in env.items()}


class S3Client:
    """The few signed (AWS Signature V4) S3 requests this module and its tests make, with the standard library."""

    def __init__(self, host: str, port: int, credentials: Credentials, *, region: str = REGION) -> None:
        self.host, self.port, self.credentials, self.region = host, port, credentials, region

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> tuple[int, bytes]:
        """Send one signed request for `path` (/bucket/key); (HTTP status, body)."""
        now = dt.datetime.now(dt.UTC)
        all_headers = {
            "host": f"{self.host}:{self.port}",
            "x-amz-date": now.strftime("%Y%m%dT%H%M%SZ"),
            "x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
            **{key.lower(): value for key, value in (headers or {}).items()},
        }
        all_headers["authorization"] = self._authorization(method, path, all_headers, now)
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        try:
            connection.request(method, urllib.parse.quote(path), body=body, headers=all_headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def _authorization(self, method: str, path: str, headers: Mapping[str, str], now: dt.datetime) -> str:
        date = now.strftime("%Y%m%d")
        names = sorted(headers)
        canonical = "\n".join(
            [
                method,
                urllib.parse.quote(path),
                "",
                *(f"{n}:{headers[n].strip()}" for n in names),
                "",
                ";".join(names),
                headers["x-amz-content-sha256"],
            ]
        )
        scope = f"{date}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", headers["x-amz-date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = f"AWS4{self.credentials.secret_access_key}".encode()
        for part in (date, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return (
            f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key_id}/{scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={signature}"
        )

    def ready(self) -> bool:
        """True when the gateway answers a signed ListBuckets with 200 (it refuses them until the filer is up)."""
        try:
            return self.request("GET", "/", timeout_s=5.0)[0] == 200
        except OSError:
            return False

    def create_bucket(self, bucket: str) -> None:
        """Create `bucket` unless this server already has it."""
        status, body = self.request("PUT", f"/{bucket}")
        if status != 200 and b"BucketAlreadyOwnedByYou" not in body:
            raise ObjectStoreError(f"creating bucket {bucket!r} failed: HTTP {status} {body[:200]!r}")


def _go(args: list[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float, what: str) -> str:
    cwd.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            ["go", *args],
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=max(timeout_s, 1.0),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ObjectStoreError(
            f"{what} took longer than {timeout_s:.0f}s; run it again (the Go caches keep what was done)"
        ) from None
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise ObjectStoreError(f"{what} failed: {tail}")
    return result.stdout


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on loopback that nothing listens on right now."""
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read (created 0600, never world-readable for an instant)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


@contextlib.contextmanager
def temporary_object_store(*, home: Path, version: str, bucket: str = "lakehouse") -> Iterator[ObjectStore]:
    """A throwaway server on free ports with its data in a temporary folder (tests)."""
    with tempfile.TemporaryDirectory(prefix="objectstore-") as state:
        port, *internal = free_ports(1 + INTERNAL_PORTS)
        store = ObjectStore(
            home=home, version=version, port=port, bucket=bucket, internal_ports=tuple(internal), state_home=Path(state)
        )
        store.start()
        try:
            yield store
        finally:
            store.stop()
