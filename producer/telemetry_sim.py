"""Smart-home telemetry producer: a simulated fleet (live or backfill), CSV replay and fault injection, into Kafka."""

from __future__ import annotations

import argparse
import logging
import math
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from common.cli import run as run_cli
from common.cli import setup_logging, stop_on_signals
from common.clock import Clock, SystemClock
from config.errors import ConfigError
from config.settings import Settings
from lake.devices import register_devices
from producer import replay as replay_io
from producer.emitter import Emitter, ProducerSummary, epoch_ms
from producer.fleet import default_fleet, synthetic_fleet
from producer.simulator import DeviceCursor, Readings, Simulator
from producer.sink import DeliveryStoppedError, KafkaSink
from producer.state import SeqStore, state_path

logger = logging.getLogger(__name__)

BATCH_EVENTS = 20_000


def parse_time(text: str | None, option: str) -> int | None:
    """An ISO-8601 time (naive = UTC) as epoch ms."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not an ISO-8601 time such as 2026-11-01T00:00:00Z") from None
    return epoch_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def timeline(
    now_ms: int,
    *,
    step_ms: int,
    devices: int,
    events: int | None,
    start: int | None,
    end: int | None,
    duration: float | None,
) -> tuple[bool, int, int | None]:
    """(backfill?, first tick, end exclusive or None) of a simulation, all in epoch ms.

    Backfill (`events` or `start`) runs as fast as possible: `events` alone ends about now (10 % spare ticks for
    offline devices); `start` runs to `end`, `start + duration` or now. Live starts at the current interval
    boundary and runs for `duration` or forever.
    """
    if events is None and start is None:
        first = now_ms - now_ms % step_ms
        return False, first, first + int(duration * 1000) if duration else None
    if start is None:
        start = now_ms - math.ceil((events or 0) / devices * 1.1 + 1) * step_ms
    if end is None:
        end = start + int(duration * 1000) if duration else (None if events is not None else now_ms)
    return True, start, end


def _simulate(
    settings: Settings,
    emitter: Emitter,
    *,
    homes: int | None,
    seed: int,
    interval: float,
    duration: float | None,
    events: int | None,
    start: str | None,
    end: str | None,
    stop: threading.Event,
) -> None:
    fleet = synthetic_fleet(homes, seed=seed) if homes else default_fleet()
    register_devices(settings, fleet)
    store = SeqStore(state_path(settings), fleet["device_id"].to_list())
    sim = Simulator(fleet, seed=seed, cursor=store.load())
    step = int(interval * 1000)
    phase = np.random.default_rng([seed, 0x9A5E]).integers(0, step, fleet.height)
    span = timeline(
        epoch_ms(emitter.clock.now()),
        step_ms=step,
        devices=fleet.height,
        events=events,
        start=parse_time(start, "--start"),
        end=parse_time(end, "--end"),
        duration=duration,
    )
    backfill, start_ms, end_ms = span
    logger.info(
        "simulating %d devices in %d homes, %s, every %.3g s",
        fleet.height,
        fleet["home_id"].n_unique(),
        "backfill" if backfill else "live",
        interval,
    )
    batch: list[Readings] = []
    sent, tick, pending = 0, 0, 0
    while not stop.is_set() and (events is None or sent < events):
        t = start_ms + tick * step
        if end_ms is not None and t >= end_ms:
            break
        if not backfill and stop.wait(max(0.0, (t + step - epoch_ms(emitter.clock.now())) / 1000)):
            break
        if store.needs_reservation(sim.cursor):
            store.reserve(sim.cursor)
        readings = sim.step(t + phase, limit=None if events is None else events - sent)
        batch.append(readings)
        sent += readings.idx.size
        pending += readings.idx.size
        tick += 1
        if not backfill or pending >= BATCH_EVENTS:
            emitter.emit(sim.frame(batch))
            batch, pending = [], 0
    if batch:
        emitter.emit(sim.frame(batch))
    _finish(settings, emitter, store, sim.cursor, stopped=stop.is_set())


def _replay(
    settings: Settings,
    emitter: Emitter,
    readings: pl.DataFrame,
    *,
    csv: Path,
    speed: float,
    duration: float | None,
    stop: threading.Event,
) -> None:
    devices = replay_io.devices(readings)
    register_devices(settings, devices)
    store = SeqStore(state_path(settings), devices["device_id"].to_list())
    counts = devices.select("device_id").join(
        readings["device_id"].value_counts(), on="device_id", how="left", maintain_order="left"
    )
    cursor = store.load(block=counts["count"].to_numpy())  # exactly the seqs this replay uses
    frame = replay_io.to_events(readings, store.device_ids, cursor)
    logger.info(
        "replaying %d readings of %d devices from %s at speed %s", frame.height, devices.height, csv, speed or "max"
    )
    ts = frame["ts_ms"].to_numpy()
    began, done = emitter.clock.monotonic(), 0
    while done < frame.height and not stop.is_set():
        elapsed = emitter.clock.monotonic() - began
        if duration is not None and elapsed >= duration:
            break
        due = frame.height if speed == 0 else int(np.searchsorted(ts, ts[0] + elapsed * speed * 1000, side="right"))
        due = min(due, done + BATCH_EVENTS)
        if due > done:
            emitter.emit(frame[done:due])
            done = due
        else:
            stop.wait(0.05)
    _finish(settings, emitter, store, cursor, stopped=stop.is_set())


def _finish(settings: Settings, emitter: Emitter, store: SeqStore, cursor: DeviceCursor, *, stopped: bool) -> None:
    """Flush (bounded: the stop timeout after SIGTERM, else the delivery timeout); only a run whose records were
    all delivered records its exact seqs (else the reservation stands: a gap in seq, never a reused one)."""
    _flush(settings, emitter.sink, stopped=stopped)
    if emitter.summary().complete:
        store.save(cursor)


def _flush(settings: Settings, sink: KafkaSink, *, stopped: bool) -> None:
    timeout_s = settings.producer_stop_timeout_s if stopped else settings.producer_delivery_timeout_s + 5.0
    if not sink.flush(timeout_s):
        logger.error("records still unacknowledged after %.0f s; they are reported as unconfirmed", timeout_s)


def run(
    settings: Settings,
    *,
    homes: int | None = None,
    seed: int = 0,
    interval: float = 1.0,
    duration: float | None = None,
    events: int | None = None,
    start: str | None = None,
    end: str | None = None,
    replay: Path | str | None = None,
    replay_config: Path | str | None = None,
    speed: float = 1.0,
    bad_fraction: float = 0.0,
    ledger: Path | str | None = None,
    stop_event: threading.Event | None = None,
    clock: Clock | None = None,
) -> ProducerSummary:
    """Produce telemetry (simulated fleet or CSV replay) into the telemetry topic; return what was sent."""
    _check(
        homes=homes,
        interval=interval,
        events=events,
        speed=speed,
        bad_fraction=bad_fraction,
        replay=replay,
        replay_config=replay_config,
    )
    stop = stop_event or threading.Event()
    readings = None  # a replay's file and mapping are read and checked before the broker is contacted
    if replay is not None:
        readings = replay_io.readings(Path(replay), replay_io.load_config(Path(str(replay_config))))
        readings = readings if events is None else readings.head(events)
    sink = KafkaSink(settings)
    emitter = Emitter(sink, clock or SystemClock(), bad_fraction, np.random.default_rng([seed, 0xBAD]))
    try:
        if readings is not None:
            _replay(settings, emitter, readings, csv=Path(str(replay)), speed=speed, duration=duration, stop=stop)
        else:
            _simulate(
                settings,
                emitter,
                homes=homes,
                seed=seed,
                interval=interval,
                duration=duration,
                events=events,
                start=start,
                end=end,
                stop=stop,
            )
    except DeliveryStoppedError as exc:
        logger.error(
            "stopping: %s (the broker has been unreachable for PRODUCER_DELIVERY_TIMEOUT_S=%.0f s)",
            exc,
            settings.producer_delivery_timeout_s,
        )
        _flush(settings, sink, stopped=True)
    finally:
        sink.close(timeout_s=0.0 if stop.is_set() else settings.producer_stop_timeout_s)
        summary = emitter.summary()
        if ledger is not None:
            emitter.ledger.write(Path(ledger))
            write_undelivered(summary, Path(ledger))
    _log_summary(summary)
    return summary


def _log_summary(summary: ProducerSummary) -> None:
    logger.info(
        "done: %d events (%d delivered, %d failed, %d unconfirmed), %d faulty records, %.0f events/s",
        summary.sent,
        summary.delivered,
        summary.failed_events,
        summary.unconfirmed,
        sum(summary.faults.values()),
        summary.rate,
    )
    for row in summary.undelivered.head(20).iter_rows(named=True):
        logger.error(
            "%s: %d events %s, event times %s … %s",
            row["device_id"],
            row["events"],
            row["outcome"],
            f"{row['first']:%Y-%m-%d %H:%M:%S}",
            f"{row['last']:%Y-%m-%d %H:%M:%S}",
        )


def write_undelivered(summary: ProducerSummary, ledger: Path) -> None:
    """Next to the ledger, `<ledger>.undelivered.csv`: per device, the events not known to be in the topic."""
    path = ledger.with_name(ledger.stem + ".undelivered.csv")
    if summary.undelivered.is_empty():
        path.unlink(missing_ok=True)
    else:
        summary.undelivered.write_csv(path)


def _check(
    *,
    homes: int | None,
    interval: float,
    events: int | None,
    speed: float,
    bad_fraction: float,
    replay: object,
    replay_config: object,
) -> None:
    if replay is not None and replay_config is None:
        raise ConfigError("--replay needs --replay-config (a TOML mapping, e.g. config/replay/iot_env_telemetry.toml)")
    if homes is not None and homes < 1:
        raise ConfigError(f"--homes must be at least 1, got {homes}")
    if homes is not None and replay is not None:
        raise ConfigError("--homes and --replay exclude each other")
    if not interval >= 0.001:
        raise ConfigError(f"--interval must be at least 0.001 s, got {interval}")
    if events is not None and events < 0:
        raise ConfigError(f"--events must not be negative, got {events}")
    if not speed >= 0:
        raise ConfigError(f"--speed must be >= 0 (0 = as fast as possible), got {speed}")
    if not 0.0 <= bad_fraction <= 1.0:
        raise ConfigError(f"--bad-fraction must be within 0..1, got {bad_fraction}")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface of the producer."""
    p = argparse.ArgumentParser(prog="python -m producer.telemetry_sim", description=__doc__)
    p.add_argument(
        "--homes", type=int, default=None, help="synthetic fleet of N homes (default: config/device_catalog.csv)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same events (default 0)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between two readings of a device (default 1)")
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds to run (live, replay: wall time; backfill with --start: simulated time)",
    )
    p.add_argument("--events", type=int, default=None, help="backfill: send N valid events as fast as possible")
    p.add_argument(
        "--start", default=None, help="backfill from this simulated time (ISO-8601 UTC), as fast as possible"
    )
    p.add_argument("--end", default=None, help="backfill up to this simulated time (ISO-8601 UTC; default now)")
    p.add_argument("--replay", default=None, metavar="FILE.csv", help="replay readings from a CSV file")
    p.add_argument("--replay-config", default=None, metavar="FILE.toml", help="column mapping of the replayed CSV")
    p.add_argument(
        "--speed", type=float, default=1.0, help="replay time compression (default 1; 0 = as fast as possible)"
    )
    p.add_argument("--bad-fraction", type=float, default=0.0, help="about this fraction of extra faulty records")
    p.add_argument(
        "--ledger",
        default=None,
        metavar="PATH",
        help="add per device x day counts of what was sent to this .csv or .parquet file",
    )
    return p


def main() -> int:
    args = build_parser().parse_args()
    settings = Settings.from_env()
    setup_logging(settings.log_level)
    stop = stop_on_signals()
    summary = run(settings, stop_event=stop, **vars(args))
    faults = ", ".join(f"{k}={v}" for k, v in summary.faults.items() if v)
    print(
        f"sent={summary.sent} delivered={summary.delivered} failed={summary.failed_events} "
        f"unconfirmed={summary.unconfirmed} faults={sum(summary.faults.values())}"
        f"{f' ({faults})' if faults else ''} failed_records={summary.failed} rate={summary.rate:.0f}/s"
    )
    return 0 if summary.complete else 1


if __name__ == "__main__":
    run_cli(main)
