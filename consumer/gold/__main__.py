"""`python -m consumer.gold`: see consumer/gold/run.py."""

from common.cli import run
from consumer.gold.run import main

run(main)
