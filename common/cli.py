"""What every entry point shares: logging set-up and the wrapper that turns expected failures into one line."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable

from common.memory import use_jemalloc
from config.errors import LakehouseError

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Readable, timestamped log lines on stderr; third-party chatter only at DEBUG.

    kafka-python logs every refused connection at ERROR; our components log broker state changes themselves.
    """
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    quiet = logging.DEBUG if level == "DEBUG" else logging.CRITICAL
    for noisy in ("kafka", "deltalake", "urllib3", "py4j"):
        logging.getLogger(noisy).setLevel(quiet)


def stop_on_signals() -> threading.Event:
    """An event that SIGTERM and SIGINT set: long-running loops finish their current step and stop cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def run(main: Callable[[], int | None]) -> None:
    """Run `main` (with Arrow's memory in jemalloc, see common/memory.py) and exit: 0 on success, the error's code
    with one line on stderr on an expected failure."""
    use_jemalloc()
    try:
        code = main()
    except LakehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code or 0)
