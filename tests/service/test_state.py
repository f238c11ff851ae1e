"""Write-then-rename: a failing write leaves the old file whole and no temporary behind."""

import os

import pytest

from latentperform.service.state import StateWriter, read_json, write_atomic, write_json


def test_replaces_in_one_step_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "sub" / "show.json"
    write_json(path, {"frames": 1})
    write_json(path, {"frames": 2})
    assert read_json(path) == {"frames": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["show.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "show.json"
    write_json(path, {"frames": 1})

    def full_disk(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="space"):
        write_json(path, {"frames": 2})
    monkeypatch.undo()
    assert read_json(path) == {"frames": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["show.json"]


def test_unreadable_is_none(tmp_path):
    (tmp_path / "half.json").write_text('{"frames": ')
    assert read_json(tmp_path / "half.json") is None and read_json(tmp_path / "none.json") is None


def test_writer_thread_reports_instead_of_raising(tmp_path):
    (tmp_path / "a-file").write_text("")   # its "folder" is a file: no write can succeed, root or not
    w = StateWriter(tmp_path / "a-file" / "show.json")
    w.put({"frames": 1})
    w.close()
    assert w.written == 0 and "cannot write" in w.error


def test_writer_thread_writes_the_latest(tmp_path):
    w = StateWriter(tmp_path / "show.json")
    for k in range(50):
        w.put({"frames": k})
    w.close()
    assert read_json(tmp_path / "show.json") == {"frames": 49} and 1 <= w.written <= 50
    write_atomic(tmp_path / "b.txt", b"bytes")
    assert (tmp_path / "b.txt").read_bytes() == b"bytes"
