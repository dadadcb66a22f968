"""Where the lake (or one of its tables) lives: a local folder or an object-store URI (`s3://bucket/prefix`).

delta-rs does the table work itself, given the URI and `storage_options`; the few plain-file operations the lake
needs besides (does a table exist, list and read its commit files, replace one) go through `pyarrow.fs`, so they
are the same code for both. Endpoint and credentials are the standard `AWS_*` settings (config/settings.py); they
are carried as `storage_options` (object_store's keys, which delta-rs and polars both take) and never printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from config.errors import LakeError

T = TypeVar("T")
SCHEMES = ("s3",)
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_TIMEOUT_S = 10.0  # per S3 request (connect, and then each request), so that every wait on the store is bounded


def is_uri(text: str) -> bool:
    """Whether `text` is a URL (scheme://…) rather than a local path."""
    return bool(_URI.match(text))


@dataclass(frozen=True, eq=True)
class Location:
    """A local folder (`uri` is its path as given) or an object-store URI, with the storage options to reach it."""

    uri: str
    options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, raw: str | os.PathLike[str], *, storage_options: Mapping[str, str] | None = None) -> Location:
        """A location from LAKE_ROOT's text; ValueError for a URL of a scheme the lake does not support."""
        text = os.fspath(raw)
        if not is_uri(text):
            return cls(str(Path(text)))
        parts = urlsplit(text)
        if parts.scheme not in SCHEMES or not parts.netloc:
            raise ValueError(text)
        path = "/".join(p for p in parts.path.split("/") if p)
        uri = f"{parts.scheme}://{parts.netloc}" + (f"/{path}" if path else "")
        return cls(uri, tuple(sorted((storage_options or {}).items())))

    @property
    def remote(self) -> bool:
        return is_uri(self.uri)

    @property
    def local(self) -> Path | None:
        """The folder, for a local location; None on an object store."""
        return None if self.remote else Path(self.uri)

    @property
    def storage_options(self) -> dict[str, str] | None:
        """What delta-rs and polars need to reach it (None: a local folder)."""
        return dict(self.options) if self.remote else None

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rpartition("/")[2] if self.remote else Path(self.uri).name

    @property
    def parent(self) -> Location:
        if not self.remote:
            return Location(str(Path(self.uri).parent))
        head, _, _ = self.uri.rpartition("/")
        return Location(head if "://" in head and not head.endswith(":/") else self.uri, self.options)

    def __truediv__(self, name: str) -> Location:
        if not self.remote:
            return Location(str(Path(self.uri) / name))
        return Location(f"{self.uri}/{name.strip('/')}", self.options)

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:  # the options hold the secret key: never shown
        return f"Location({self.uri!r})"

    def __fspath__(self) -> str:
        if self.remote:
            raise TypeError(f"{self.uri} is not a local path")
        return self.uri

    # ---- file operations (pyarrow.fs) ----------------------------------------------------------------------
    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The pyarrow filesystem and this location's path in it."""
        if not self.remote:
            return pafs.LocalFileSystem(), os.path.abspath(self.uri)
        return _s3(self.options), self.uri.split("://", 1)[1]

    def _info(self) -> pafs.FileInfo:
        fs, path = self.filesystem()
        return _call(self, fs.get_file_info, path)

    def exists(self) -> bool:
        return self._info().type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        """A folder (on an object store: a prefix some object is under)."""
        return self._info().type == pafs.FileType.Directory

    def is_file(self) -> bool:
        return self._info().type == pafs.FileType.File

    def stat(self) -> tuple[int, int] | None:
        """(size, mtime in ns) of a file, None when there is none."""
        info = self._info()
        return None if info.type != pafs.FileType.File else (info.size, info.mtime_ns or 0)

    def read_bytes(self) -> bytes:
        """The file's bytes; FileNotFoundError when it does not exist."""
        fs, path = self.filesystem()
        if self._info().type != pafs.FileType.File:
            raise FileNotFoundError(self.uri)
        with _call(self, fs.open_input_stream, path) as stream:
            return stream.read()

    def write_bytes(self, data: bytes) -> None:
        """Replace the file's bytes whole (local: through a temporary file; an object-store PUT is atomic)."""
        fs, path = self.filesystem()
        target = path if self.remote else f"{os.path.dirname(path)}/.{os.path.basename(path)}.tmp"
        if not self.remote:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        with _call(self, fs.open_output_stream, target) as stream:
            stream.write(data)
        if not self.remote:
            os.replace(target, path)

    def files(self) -> dict[str, tuple[int, int]]:
        """The files directly in this folder: name → (size, mtime in ns); empty when there is no such folder."""
        fs, path = self.filesystem()
        found = _call(self, fs.get_file_info, pafs.FileSelector(path, allow_not_found=True))
        return {info.base_name: (info.size, info.mtime_ns or 0) for info in found if info.type == pafs.FileType.File}

    def check(self) -> None:
        """LakeError (one line, naming the setting to fix) when an object-store lake cannot be reached or read."""
        if not self.remote:
            return
        fs, path = self.filesystem()
        bucket = path.split("/", 1)[0]
        try:
            if _call(self, fs.get_file_info, bucket).type == pafs.FileType.NotFound:
                raise LakeError(store_problem(self, "NoSuchBucket"))
            self.files()
        except OSError as exc:
            raise LakeError(
                f"{self.uri} cannot be listed ({str(exc).splitlines()[0]}); check AWS_ENDPOINT_URL"
            ) from None


@cache
def _s3(options: tuple[tuple[str, str], ...]) -> pafs.S3FileSystem:
    settings = dict(options)
    endpoint = urlsplit(settings.get("AWS_ENDPOINT_URL", ""))
    return pafs.S3FileSystem(
        access_key=settings.get("AWS_ACCESS_KEY_ID") or None,
        secret_key=settings.get("AWS_SECRET_ACCESS_KEY") or None,
        region=settings.get("AWS_REGION") or None,
        endpoint_override=endpoint.netloc or None,
        scheme=endpoint.scheme or "https",
        connect_timeout=_TIMEOUT_S,
        request_timeout=_TIMEOUT_S,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=2),
    )


def _call(location: Location, operation: Callable[..., T], *args: object) -> T:
    """`operation(*args)` with an object-store failure caused by a setting turned into its one-line LakeError."""
    try:
        return operation(*args)
    except FileNotFoundError:
        raise
    except OSError as exc:
        hint = store_problem(location, str(exc))
        if hint is None:
            raise
        raise LakeError(hint) from None


def store_problem(location: Location, message: str) -> str | None:
    """The one-line error for an object-store failure whose cause is a setting (bucket, credentials, endpoint)."""
    if not location.remote:
        return None
    options = dict(location.options)
    endpoint = options.get("AWS_ENDPOINT_URL") or "the default AWS endpoint"
    bucket = urlsplit(location.uri).netloc
    text = message.upper()
    if "NO_SUCH_BUCKET" in text or "NOSUCHBUCKET" in text or "BUCKET DOES NOT EXIST" in text:
        return (
            f"LAKE_ROOT: bucket {bucket!r} does not exist at {endpoint}; create it or point LAKE_ROOT at another bucket"
        )
    if any(
        word in text
        for word in ("ACCESS_DENIED", "ACCESSDENIED", "INVALIDACCESSKEYID", "SIGNATUREDOESNOTMATCH", "403", "FORBIDDEN")
    ):
        return (
            f"the object store at {endpoint} refused access to bucket {bucket!r}: check AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (and AWS_REGION)"
        )
    if any(
        word in text
        for word in ("NETWORK_CONNECTION", "COULD NOT CONNECT", "CONNECTION REFUSED", "TIMED OUT", "ERROR SENDING")
    ):
        return f"the object store at AWS_ENDPOINT_URL={endpoint} cannot be reached: check AWS_ENDPOINT_URL"
    return None


def at(where: Location | str | os.PathLike[str]) -> Location:
    """`where` as a Location (a Path or a path string is a local folder)."""
    return where if isinstance(where, Location) else Location.parse(where)
