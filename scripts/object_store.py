"""Run a real S3-compatible server (SeaweedFS) locally without Docker:
`python -m scripts.object_store install|start|stop|status|env`."""

from __future__ import annotations

import argparse
import logging
import shlex

from common.cli import run, setup_logging
from config.settings import Settings
from ops.object_store import ObjectStore, masked

logger = logging.getLogger(__name__)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/object_store.sh", description=__doc__)
    parser.add_argument(
        "action",
        choices=["install", "start", "stop", "status", "env"],
        help="install: build the server once (Go module proxy); start: install, start on 127.0.0.1, "
        "wait and create the bucket; stop: SIGTERM then SIGKILL; status: running or not (exit 1 "
        'when not); env: print the export lines a shell needs (eval "$(... env)"), secret '
        "included",
    )
    args = parser.parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    store = ObjectStore.for_settings(settings)
    if args.action == "install":
        print(f"SeaweedFS {store.version} in {store.install()}")
    elif args.action == "start":
        started = store.start()
        print(
            f"S3 server {'started' if started else 'already running'} at {store.endpoint}, bucket {store.bucket} "
            f"(pid {store.pid()}, log {store.log_file})"
        )
        logger.debug("environment for it: %s", masked(store.env()))
    elif args.action == "stop":
        print("S3 server stopped" if store.stop() else "S3 server was not running")
    elif args.action == "env":
        if not store.running():
            logger.warning("the S3 server is not running: scripts/object_store.sh start")
        for name, value in store.env().items():
            print(f"export {name}={shlex.quote(value)}")
    else:
        pid = store.pid()
        print(
            f"S3 server running at {store.endpoint}, bucket {store.bucket} (pid {pid})"
            if pid
            else "S3 server not running"
        )
        return 0 if pid else 1
    return 0


if __name__ == "__main__":
    run(main)
