"""A replayed CSV as text columns, and their conversion to numbers, booleans, times and labels.

Every value is read as text: missing-value markers become null, the rest must convert, and the first value
that does not stops the replay with one line naming the file, the line, the column and what was expected.
Vectorised: each check is one polars expression over the whole column.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from config.errors import ConfigError
from producer.replay_config import ReplayConfig

LINE = "_line"  # the row's line in the file (the header is line 1)
TRUE = ("true", "t", "yes", "y", "on", "1", "1.0")
FALSE = ("false", "f", "no", "n", "off", "0", "0.0")
EPOCH_UNITS = {"epoch_s": 1000.0, "epoch_ms": 1.0, "epoch_us": 0.001}
PLAUSIBLE_MS = tuple(int(datetime(year, 1, 1, tzinfo=UTC).timestamp() * 1000) for year in (1980, 2100))
OFFSET = r"\d(Z|[+-]\d\d(:?\d\d)?)$"
NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
OFFSET_FORMATS = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z")


def fail(csv: Path, frame: pl.DataFrame, bad: pl.Series, column: str, expected: str) -> None:
    """Raise a ConfigError for the first row where `bad` is true, naming its line, column and value."""
    if not bad.any():
        return
    row = frame.filter(bad).row(0, named=True)
    raise ConfigError(f"replay file {csv}, line {row[LINE]}, column {column!r}: {row[column]!r} is not {expected}")


def read_text(csv: Path, config: ReplayConfig) -> pl.DataFrame:
    """The mapped columns as stripped text (missing markers → null) plus LINE, in file order, and the columns the
    mapping joins from several (config.joined)."""
    options: dict[str, Any] = {"separator": config.delimiter, "infer_schema": False, "quote_char": '"'}
    try:
        source = _utf8(csv, config.encoding)
        header = pl.read_csv(source, n_rows=0, **options).columns
        if absent := sorted(config.columns() - set(header)):
            raise ConfigError(
                f"replay file {csv}: column {absent[0]!r} (mapped in {config.path}) is not in its "
                f"header; it has {', '.join(header)}"
            )
        raw = pl.read_csv(source, columns=sorted(config.columns()), empty_string_is_null=False, **options)
    except pl.exceptions.NoDataError:
        raise ConfigError(f"replay file {csv} is empty; expected a header line and data rows") from None
    except (OSError, pl.exceptions.PolarsError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"replay file {csv} cannot be read as CSV ({detail})") from None
    if raw.is_empty():
        raise ConfigError(f"replay file {csv} has a header but no data rows")
    markers = pl.Series(config.missing, dtype=pl.String).implode()
    stripped = [pl.col(c).str.strip_chars() for c in raw.columns]
    text = raw.select(
        *[pl.when(s.is_in(markers)).then(None).otherwise(s).alias(c) for c, s in zip(raw.columns, stripped)],
        (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias(LINE),
    )
    return text.with_columns(
        pl.concat_str(parts, separator=separator).alias(name) for name, (parts, separator) in config.joined.items()
    )


def _utf8(csv: Path, encoding: str) -> Path | bytes:
    """The file, or its text re-encoded as UTF-8 when it is in another encoding."""
    if encoding.lower().replace("-", "") in ("utf8", "utf8sig"):
        with csv.open("rb") as file:
            try:
                file.read().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f'replay file {csv}, byte {exc.start}: is not UTF-8 text (set file.encoding, e.g. "latin-1")'
                ) from None
        return csv
    try:
        return csv.read_bytes().decode(encoding).encode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"replay file {csv}, byte {exc.start}: is not {encoding} text") from None


def numbers(csv: Path, text: pl.DataFrame, column: str, applies: pl.Series, *, decimal_comma: bool) -> pl.Series:
    """`column` as Float64 (null where missing); a value that is no finite number, where `applies`, fails."""
    source = text[column].str.replace(",", ".", literal=True) if decimal_comma else text[column]
    values = source.cast(pl.Float64, strict=False)
    fail(
        csv,
        text,
        applies & text[column].is_not_null() & ~values.is_finite().fill_null(False),
        column,
        "a finite number",
    )
    return values


def booleans(csv: Path, text: pl.DataFrame, column: str, applies: pl.Series) -> pl.Series:
    """`column` as Boolean from true/false, yes/no, on/off, 1/0 (any case)."""
    lower = text[column].str.to_lowercase()
    values = pl.select(pl.when(lower.is_in(TRUE)).then(True).when(lower.is_in(FALSE)).then(False)).to_series()
    fail(csv, text, applies & lower.is_not_null() & values.is_null(), column, "true/false, yes/no, on/off or 1/0")
    return values


def labels(
    csv: Path, text: pl.DataFrame, column: str, values: dict[str, Any], allowed: tuple[str, ...] | None, *, what: str
) -> pl.Series:
    """`column` through the `values` mapping (unmapped values kept as they are; "" = null), each in `allowed`."""
    mapping = {k: None if v == "" else str(v) for k, v in values.items()}
    mapped = text[column].replace(mapping) if values else text[column]
    if allowed is not None:
        fail(
            csv,
            text,
            mapped.is_not_null() & ~mapped.is_in(allowed),
            column,
            f"{what} ({', '.join(allowed)}); map it in the mapping's values",
        )
    return mapped


def times_ms(csv: Path, text: pl.DataFrame, config: ReplayConfig, group: pl.Series) -> pl.Series:
    """The time column as epoch milliseconds (UTC); naive times are local to config.timezone."""
    column = config.time_column
    fail(csv, text, text[column].is_null(), column, "a time (it is missing)")
    if config.time_format in EPOCH_UNITS:
        values = text[column].cast(pl.Float64, strict=False)
        fail(csv, text, ~values.is_finite().fill_null(False), column, f"{config.time_format} (a number)")
        ms = (values * EPOCH_UNITS[config.time_format]).floor().cast(pl.Int64)  # never moves a row to the next day
    else:
        ms = _parsed(csv, text, config, group).dt.epoch("ms")
    fail(
        csv,
        text,
        (ms < PLAUSIBLE_MS[0]) | (ms > PLAUSIBLE_MS[1]),
        column,
        f"a time between 1980 and 2100 as {config.time_format} (another unit or format?)",
    )
    return ms


def _parsed(csv: Path, text: pl.DataFrame, config: ReplayConfig, group: pl.Series) -> pl.Series:
    column, fmt = config.time_column, config.time_format
    if fmt != "iso":
        aware = "%z" in fmt or "%:z" in fmt
        parsed = text[column].str.to_datetime(fmt, strict=False, time_unit="us", time_zone="UTC" if aware else None)
        fail(csv, text, parsed.is_null(), column, f"a time in the format {fmt!r}")
        return parsed if aware else _localized(csv, text, parsed, config, group)
    normal = text[column].str.replace("T", " ", literal=True).str.replace(r"Z$", "+00:00")
    offset = normal.str.contains(OFFSET)
    if offset.any() and not offset.all():
        first = text.filter(offset)[LINE][0]
        fail(
            csv,
            text,
            ~offset,
            column,
            f"an ISO time with a UTC offset like line {first} (mixed naive and offset "
            "times; give every time an offset or none and set time.timezone)",
        )
    zone = "UTC" if offset.all() else None
    parsed = pl.repeat(None, normal.len(), dtype=pl.Datetime("us", zone), eager=True)
    for fmt in OFFSET_FORMATS if zone else NAIVE_FORMATS:  # the next format only for the values still unparsed
        if not parsed.is_null().any():
            break
        parsed = parsed.fill_null(normal.str.to_datetime(fmt, strict=False, time_unit="us", time_zone=zone))
    fail(csv, text, parsed.is_null(), column, "an ISO-8601 time such as 2025-10-26 02:30:00 or 2025-10-26T02:30:00Z")
    return parsed if offset.all() else _localized(csv, text, parsed, config, group)


def _localized(csv: Path, text: pl.DataFrame, naive: pl.Series, config: ReplayConfig, group: pl.Series) -> pl.Series:
    """Naive local times → UTC. A time the clock shows twice (DST ends) is the first pass unless the same device
    already showed a later or the same time earlier in the file (not in the row just before: a repeated row): then
    the second; a time the clock skips (DST starts) is read as if the clock had not been put forward yet (one hour
    later on the new offset)."""
    frame = pl.DataFrame({"t": naive, "g": group})
    t = pl.col("t").cast(pl.Int64)
    earlier_max, previous = t.cum_max().shift(1).over("g"), t.shift(1).over("g")
    second = (earlier_max > t) | ((earlier_max == t) & (previous != t))  # a repeated row (previous == t) is no pass
    ambiguous = pl.when(second).then(pl.lit("latest")).otherwise(pl.lit("earliest"))
    tz = config.timezone

    def local(t: pl.Expr) -> pl.Expr:
        return t.dt.replace_time_zone(tz, ambiguous=ambiguous, non_existent="null")

    utc = frame.select(
        pl.coalesce(local(pl.col("t")), local(pl.col("t") + pl.duration(hours=1))).dt.convert_time_zone("UTC")
    ).to_series()
    fail(csv, text, utc.is_null(), config.time_column, f"a local time in {tz}")
    return utc
