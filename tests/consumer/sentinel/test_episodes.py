"""The sentinel's pure state machine: exact episodes, hold, updates, batching invariance (hypothesis), silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from consumer.sentinel import episodes, silence
from consumer.sentinel.changes import episode_id

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
RULES = episodes.Rules(hold_s=5, update_every_s=10, silent_after_s=30)
METRICS = ("temperature_c", "power_w", "co_ppm", "smoke_ppm", "battery_pct")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def readings(
    device: str, device_type: str, seconds: list[int], alert: str | None = None, **values: list
) -> pl.DataFrame:
    n = len(seconds)
    columns = {
        "device_id": [device] * n,
        "home_id": ["h1"] * n,
        "device_type": [device_type] * n,
        "event_time": [at(s) for s in seconds],
        "event_id": [f"{device}-{s:05d}" for s in seconds],
        "alert": [alert] * n,
        **{m: values.get(m, [None] * n) for m in METRICS},
    }
    return pl.DataFrame(
        columns,
        schema={
            "device_id": pl.String,
            "home_id": pl.String,
            "device_type": pl.String,
            "event_time": pl.Datetime("us", "UTC"),
            "event_id": pl.String,
            "alert": pl.String,
            **dict.fromkeys(METRICS, pl.Float64),
        },
    )


def judge(batches: list[pl.DataFrame], rules: episodes.Rules = RULES) -> pl.DataFrame:
    carried, found = episodes.empty_conditions(), []
    for batch in batches:
        changes, carried = episodes.step(batch, carried, rules)
        found.append(changes)
    return pl.concat(found)


def summary(changes: pl.DataFrame) -> list[tuple]:
    return changes.select("kind", "change", "started_at", "changed_at", "value", "peak").rows()


def test_co_spike_is_one_episode_opened_after_the_hold_updated_and_resolved() -> None:
    seconds = list(range(60))
    co = [60.0 if 20 <= s < 45 else 2.0 for s in seconds]
    co[30] = 80.0
    changes = judge([readings("e1", "environment_sensor", seconds, co_ppm=co, temperature_c=[21.0] * 60)])
    assert summary(changes) == [
        ("high_co", "open", at(20), at(25), 60.0, 60.0),
        ("high_co", "update", at(20), at(30), 80.0, 80.0),
        ("high_co", "update", at(20), at(40), 60.0, 80.0),
        ("high_co", "resolve", at(20), at(45), 2.0, 80.0),
    ]
    assert changes["episode_id"].unique().to_list() == [episode_id("e1", "high_co", at(20))]
    assert changes["severity"].unique().to_list() == ["critical"]
    assert changes.filter(change="resolve")["resolved_at"].to_list() == [at(45)]


def test_a_blip_shorter_than_the_hold_opens_nothing_and_a_constant_device_nothing() -> None:
    seconds = list(range(30))
    blip = [3500.0 if 10 <= s < 14 else 100.0 for s in seconds]  # 4 s over the limit, hold 5 s
    assert judge(
        [
            readings("p1", "smart_plug", seconds, power_w=blip),
            readings("p2", "smart_plug", seconds, power_w=[100.0] * 30),
        ]
    ).is_empty()


def test_device_flag_and_low_kinds_use_the_lowest_value_as_peak() -> None:
    seconds = list(range(10))
    temps = [9.0, 8.0, 7.0, 8.0, 9.0, 9.5, 9.0, 12.0, 12.0, 12.0]
    changes = judge([readings("t1", "thermostat", seconds, temperature_c=temps)])
    assert summary(changes) == [
        ("low_temperature", "open", at(0), at(5), 9.5, 7.0),
        ("low_temperature", "resolve", at(0), at(7), 12.0, 7.0),
    ]
    flagged = judge([readings("t2", "thermostat", seconds, alert="high_temperature", temperature_c=[20.0] * 10)])
    assert summary(flagged) == [("high_temperature", "open", at(0), at(5), 20.0, 20.0)]


@st.composite
def offending_series(draw: st.DrawFn) -> tuple[pl.DataFrame, list[int]]:
    n = draw(st.integers(1, 80))
    gaps = draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))
    seconds = [sum(gaps[: i + 1]) for i in range(n)]
    over = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    frame = readings("p1", "smart_plug", seconds, power_w=[3500.0 if o else 10.0 for o in over])
    cuts = sorted(draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=6, unique=True)))
    return frame, cuts


@settings(max_examples=60, deadline=None)
@given(offending_series())
def test_any_batching_yields_the_same_episodes_which_open_once_and_never_overlap(case) -> None:
    frame, cuts = case
    whole = judge([frame])
    bounds = [0, *cuts, frame.height]
    split = judge([frame.slice(a, b - a) for a, b in pairwise(bounds)])
    assert split.equals(whole)
    assert whole["change_id"].is_unique().all()
    previous_end = None
    for (episode,), rows in whole.sort("changed_at").group_by("episode_id", maintain_order=True):
        kinds = rows["change"].to_list()
        assert kinds[0] == "open" and kinds.count("open") == 1 and kinds.count("resolve") <= 1
        assert "resolve" not in kinds[:-1]  # nothing after the resolve
        start = rows["started_at"][0]
        assert previous_end is None or start >= previous_end  # episodes of one device and kind never overlap
        assert rows["changed_at"][0] >= start + timedelta(seconds=RULES.hold_s)
        previous_end = rows["resolved_at"][-1] if kinds[-1] == "resolve" else None
        assert episode == episode_id("p1", "high_power", start)


def test_a_condition_survives_batches_without_its_device() -> None:
    over = readings("p1", "smart_plug", [0, 2, 4, 6, 8, 10], power_w=[3500.0] * 4 + [10.0] * 2)
    other = readings("p2", "smart_plug", [1, 3, 5, 7, 9, 11], power_w=[3500.0] + [10.0] * 5)  # judged batches
    both = pl.concat([over, other]).sort("event_time")
    changes = judge([both.slice(i, 1) for i in range(both.height)])  # p1 is absent from every other batch
    assert changes.equals(judge([both]))
    assert summary(changes) == [
        ("high_power", "open", at(0), at(6), 3500.0, 3500.0),
        ("high_power", "resolve", at(0), at(8), 10.0, 3500.0),
    ]


def devices_after(
    batch: pl.DataFrame, clock: datetime | None, *, now: float, state: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    return silence.step(batch, silence.empty_devices() if state is None else state, clock, silent_after_s=30, now=now)


def test_a_gap_longer_than_the_limit_is_one_silent_episode_from_the_device_s_own_readings() -> None:
    changes, state = devices_after(readings("d1", "smart_plug", [0, 1, 2, 100, 101], power_w=[1.0] * 5), None, now=0)
    assert summary(changes) == [
        ("silent", "open", at(32), at(32), 98.0, None),
        ("silent", "resolve", at(32), at(100), 98.0, None),
    ]
    assert state.select("device_id", "last_seen", "silent_since").rows() == [("d1", at(101), None)]


def test_the_timer_needs_event_time_and_arrival_time_to_agree() -> None:
    _, state = devices_after(readings("d1", "smart_plug", [0], power_w=[1.0]), at(0), now=0.0)
    quiet = readings("d2", "smart_plug", [60], power_w=[1.0])
    early, _ = devices_after(quiet, at(60), now=5.0, state=state)  # event time passed, but d1 arrived 5 s ago
    assert early.is_empty()
    opened, state = devices_after(quiet, at(60), now=31.0, state=state)
    assert opened.select("device_id", "change", "started_at").rows() == [("d1", "open", at(30))]
    again, state = devices_after(quiet.head(0), at(90), now=60.0, state=state)
    assert again.is_empty()  # open once
    back, _ = devices_after(readings("d1", "smart_plug", [95], power_w=[1.0]), at(95), now=65.0, state=state)
    back = back.filter(device_id="d1")  # (d2, quiet since 60 on both clocks, opens now)
    assert back.select("change", "started_at", "resolved_at").rows() == [("resolve", at(30), at(95))]
    assert back["episode_id"].to_list() == opened["episode_id"].to_list()


def test_no_event_time_clock_means_no_silence_whatever_the_wall_clock() -> None:
    _, state = devices_after(readings("d1", "smart_plug", [0], power_w=[1.0]), None, now=0.0)
    changes, _ = devices_after(readings("d1", "smart_plug", [0], power_w=[1.0]).head(0), None, now=1e6, state=state)
    assert changes.is_empty()


def test_the_watermark_is_the_slowest_live_partition() -> None:
    mark = silence.Watermark(idle_s=10)
    mark.advance({0: at(100), 1: at(50)}, now=0.0)
    assert mark.value(now=1.0) == at(50)
    mark.advance({0: at(120)}, now=11.0)  # partition 1 idle for 11 s: it no longer holds the clock back
    assert mark.value(now=11.0) == at(120)
    assert mark.value(now=30.0) is None
