"""The ingest's watch over its source: the topic's configuration on start, and the continuity of offsets.

A topic whose records may vanish before bronze reads them is checked when the ingest starts: a compacted topic is
refused (compaction deletes every older record of a key, in the background: silent loss by design), a retention
shorter than the ingest's lag is warned about. While it runs, `Continuity` knows the offset each partition should
deliver next and turns every jump into a `Gap` (see consumer/bronze/gaps.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka.errors import KafkaError

from common.kafka_io import topic_configs
from config.errors import ConfigError
from config.settings import Settings
from consumer.bronze.gaps import Gap, jumps

logger = logging.getLogger(__name__)

CONFIGS = ("cleanup.policy", "retention.ms", "retention.bytes")
# warn when the oldest record waiting is older than this share of retention.ms: the ingest is about to lose it
RETENTION_WARN_SHARE = 0.5


def check_topic(settings: Settings) -> dict[str, str]:
    """Refuse a compacted telemetry topic (ConfigError naming the setting to change); returns its configuration."""
    topic = settings.telemetry_topic
    configs = topic_configs(settings, topic, CONFIGS)
    if "compact" in configs.get("cleanup.policy", ""):
        raise ConfigError(
            f"topic {topic} has cleanup.policy={configs['cleanup.policy']}: compaction deletes older records of a "
            f"key before bronze may have read them; set it to delete (kafka-configs.sh --bootstrap-server "
            f"{settings.kafka_bootstrap_servers} --alter --entity-type topics --entity-name {topic} "
            "--add-config cleanup.policy=delete) or use another TELEMETRY_TOPIC"
        )
    if int(configs.get("retention.bytes", "-1")) > 0:
        logger.warning(
            "topic %s has retention.bytes=%s: a partition's oldest records are deleted once it holds more, "
            "read or not; if the ingest may lag by that much, raise it or set it to -1",
            topic,
            configs["retention.bytes"],
        )
    return configs


class Continuity:
    """The next offset each partition should deliver; every jump becomes a Gap."""

    def __init__(
        self, log_starts: Callable[[Sequence[Any]], Mapping[Any, int]], *, configs: Mapping[str, str] | None = None
    ) -> None:
        self.log_starts = log_starts  # TopicPartitions → their log start offsets (the consumer's beginning_offsets)
        self.retention_ms = int((configs or {}).get("retention.ms", "-1"))
        self.expected: dict[tuple[str, int], int] = {}
        self.pending: dict[Any, int] = {}
        self.age_checked: set[tuple[str, int]] = set()

    def expect(self, positions: Mapping[Any, int]) -> None:
        """Partitions just assigned at these positions (the table's marker + 1, or 0). Their log start offsets are
        checked by the next `check_assigned` (kafka-python cannot make requests inside a rebalance listener)."""
        for tp, position in positions.items():
            self.expected[(tp.topic, tp.partition)] = position
            self.age_checked.discard((tp.topic, tp.partition))
        self.pending.update(positions)

    def check_assigned(self) -> list[Gap]:
        """The gaps below the log start offsets of the partitions assigned since the last call: records deleted before
        bronze read them (the consumer's offset reset then starts at the log start). Call before the poll's records."""
        if not self.pending:
            return []
        pending, self.pending = self.pending, {}
        try:
            starts = self.log_starts(list(pending))
        except KafkaError as exc:  # a jump is still noticed when the partition's records arrive
            logger.warning(
                "could not read the log start offsets of %d partitions (%s)", len(pending), type(exc).__name__
            )
            return []
        gaps = []
        for tp, position in pending.items():
            start = starts.get(tp, 0)
            if position < start:
                gaps.append(Gap(tp.topic, tp.partition, position, start - 1, "deleted"))
                self.expected[(tp.topic, tp.partition)] = start
        return gaps

    def polled(self, tp: Any, records: Sequence[Any]) -> list[Gap]:
        """One poll's records of a partition: the gaps before and between them."""
        key = (tp.topic, tp.partition)
        self._check_age(key, records[0])
        first, last = records[0].offset, records[-1].offset
        expected = self.expected.get(key, first)
        self.expected[key] = last + 1
        if first == expected and last - first == len(records) - 1:  # ascending offsets: none missing (the usual poll)
            return []
        offsets = [r.offset for r in records]
        found = jumps(offsets, expected=expected)
        if not found:
            return []
        try:
            start = self.log_starts([tp]).get(tp, 0) if found[0][0] < offsets[0] else 0
        except KafkaError:  # unknown log start: a jump before the first record is most likely a reset past deletions
            start = offsets[0]
        return [
            Gap(tp.topic, tp.partition, first, last, "deleted" if first < start else "not_in_log")
            for first, last in found
        ]

    def _check_age(self, key: tuple[str, int], first: Any) -> None:
        """Once per assignment: warn when the oldest record waiting nears the topic's retention."""
        if key in self.age_checked or self.retention_ms <= 0 or first.timestamp is None or first.timestamp < 0:
            return
        self.age_checked.add(key)
        age_ms = time.time() * 1000 - first.timestamp
        if age_ms > RETENTION_WARN_SHARE * self.retention_ms:
            logger.warning(
                "%s partition %d: the oldest record waiting is %.1f h old, and the topic's retention.ms is "
                "%.1f h: records will be deleted before bronze reads them if the lag grows; raise "
                "retention.ms of %s",
                key[0],
                key[1],
                age_ms / 3.6e6,
                self.retention_ms / 3.6e6,
                key[0],
            )
