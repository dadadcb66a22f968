"""Chart layouts people can read: units and UTC on the axes, no SI prefixes or float noise on value axes."""

from datetime import UTC, date, datetime, timedelta

import polars as pl

from dashboard import charts


def test_minute_lines_say_utc_and_format_values_plainly():
    start = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "minute": [start + timedelta(minutes=i) for i in range(3)],
            "device_id": ["bulb"] * 3,
            "avg_power_w": [0.30000000000000004, 0.3, 0.30000000000000037],
        }
    )
    fig = charts.lines(frame, x="minute", y="avg_power_w", by="device_id", title="Power", y_title="W")
    assert fig.layout.xaxis.title.text == "time (UTC)"
    assert fig.layout.yaxis.title.text == "W"
    assert fig.layout.yaxis.tickformat == ",.4~g" and fig.layout.yaxis.exponentformat == "none"


def test_energy_bars_in_kwh_without_si_prefixes():
    fig = charts.energy_by_type_bar(pl.DataFrame({"device_type": ["smart_bulb"], "energy_kwh": [0.000015]}))
    assert fig.layout.yaxis.title.text == "kWh" and fig.layout.yaxis.exponentformat == "none"
    daily = charts.daily_bars(
        pl.DataFrame({"date": [date(2026, 11, 20)], "energy_kwh": [0.000015], "d": ["x"]}),
        x="date",
        y="energy_kwh",
        color="d",
        title="Energy per day (kWh)",
    )
    assert daily.layout.xaxis.title.text == "date (UTC)" and daily.layout.yaxis.exponentformat == "none"


def test_the_gauge_says_what_operational_means():
    assert charts.system_gauge(75.0).layout.title.text == "Devices operational (healthy + attention)"
