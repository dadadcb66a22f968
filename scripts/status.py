"""Is the platform healthy? Broker, processes, topic offsets and lag, lake tables. Exit 1 when anything is down."""

from __future__ import annotations

import argparse

from common.cli import run, setup_logging
from config.settings import Settings
from ops.status import checks, render


def main() -> int:
    argparse.ArgumentParser(prog="scripts/status.sh", description=__doc__).parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    result = checks(settings)
    print(render(result))
    return 0 if all(c.healthy for c in result) else 1


if __name__ == "__main__":
    run(main)
