"""Damaged Delta logs are loud: what deltalake 1.6.6 reads silently (an empty or line-cut commit file) and what it
rejects with a raw error (a cut or unparsable line) both stop the reader with one line naming the file and the fix."""

from __future__ import annotations

import polars as pl
import pytest
from deltalake import DeltaTable

from config.errors import LakeError
from lake import delta_io


def _table(tmp_path, commits: int = 3):
    path = tmp_path / "gold" / "t"
    for i in range(commits):
        delta_io.write(path, pl.DataFrame({"a": [i, i + 10]}), app_transactions={"app": i})
    return path, path / "_delta_log" / f"{commits:020d}.json"  # version 0 is the empty creation


def _cut_to_first_line(text: str) -> str:
    return text.splitlines()[0] + "\n"


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda text: "", "empty"),
        (lambda text: text[: len(text) // 2], "cut or unparsable"),
        (_cut_to_first_line, "cut: holds 0 of the 1 add actions"),
        (lambda text: "not json\n", "cut or unparsable"),
    ],
)
def test_a_damaged_newest_commit_is_one_line_naming_the_file_and_the_fix(tmp_path, damage, problem):
    path, newest = _table(tmp_path)
    newest.write_text(damage(newest.read_text()))
    with pytest.raises(LakeError) as raised:
        delta_io.open_table(path)
    message = str(raised.value)
    assert f"gold/t: commit file {newest} is damaged ({problem}" in message
    assert "restore it from a backup" in message and delta_io.DAMAGE_HELP in message and "\n" not in message
    with pytest.raises(LakeError, match="is damaged"):
        delta_io.log_actions(path, 3)


def test_what_deltalake_reads_silently_is_what_the_check_refuses(tmp_path):
    """The experiment behind the check: delta-rs 1.6.6 opens a table whose newest commit file is empty, or cut after
    its first line, as if that commit had added nothing (rows and the progress marker silently go back)."""
    path, newest = _table(tmp_path)
    text = newest.read_text()
    for damaged in ("", _cut_to_first_line(text)):
        newest.write_text(damaged)
        table = DeltaTable(str(path))
        assert (table.version(), table.count(), table.transaction_version("app")) == (3, 4, 1)


def test_a_commit_cut_after_its_data_but_before_its_markers_is_noticed(tmp_path):
    path, newest = _table(tmp_path)
    lines = newest.read_text().splitlines()
    assert lines[-1].startswith('{"txn"')
    newest.write_text("\n".join(lines[:-1]))
    with pytest.raises(LakeError, match=r"holds 0 of the 1 txn actions"):
        delta_io.open_table(path)


def test_an_intact_log_is_read_once_then_only_changed_files(tmp_path, monkeypatch):
    path, _ = _table(tmp_path)
    delta_io.open_table(path)
    reads = []
    monkeypatch.setattr(delta_io, "commit_problem", lambda file: reads.append(file.name))
    delta_io.write(path, pl.DataFrame({"a": [99]}), app_transactions={"app": 3})
    delta_io.open_table(path)
    assert reads == [f"{4:020d}.json"]


def test_the_disk_full_error_is_recognised_in_both_forms():
    assert delta_io.disk_full(OSError(28, "No space left on device"))
    assert delta_io.disk_full(Exception("Generic LocalFileSystem error: Unable to write (os error 28)"))
    assert not delta_io.disk_full(OSError(13, "Permission denied"))
