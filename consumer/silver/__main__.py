"""`python -m consumer.silver`: see consumer/silver/run.py."""

from common.cli import run
from consumer.silver.run import main

run(main)
