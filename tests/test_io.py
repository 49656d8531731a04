"""Crash-safe writes: no temp files left behind, torn JSONL tails skipped and repaired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.io import atomic_write_bytes, atomic_write_text, read_jsonl


def test_atomic_write_leaves_only_the_target(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "eval.json"
    atomic_write_text(target, '{"a": 1}')
    atomic_write_text(target, '{"a": 2}')  # overwrite goes through the same rename
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["eval.json"]


def test_atomic_write_gives_an_ordinary_file_mode(tmp_path: Path) -> None:
    target, plain = tmp_path / "a.txt", tmp_path / "b.txt"
    atomic_write_text(target, "x")
    plain.write_text("x")
    assert target.stat().st_mode == plain.stat().st_mode  # not mkstemp's private 0600


def test_atomic_write_bytes_roundtrip(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    atomic_write_bytes(target, b"\x00\x01\xff")
    assert target.read_bytes() == b"\x00\x01\xff"


def test_failed_write_keeps_old_content_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_read_jsonl_skips_torn_last_line(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"round": 0}\n{"round": 1}\n{"round": 2, "acc')
    assert read_jsonl(log) == [{"round": 0}, {"round": 1}]


def test_read_jsonl_keeps_complete_unterminated_line_and_blank_lines(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"round": 0}\n\n{"round": 1}')
    assert read_jsonl(log) == [{"round": 0}, {"round": 1}]


def test_read_jsonl_rejects_corruption_in_the_middle(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"round": 0}\n{"rou\n{"round": 2}\n')
    with pytest.raises(ValueError, match=":2:"):
        read_jsonl(log)
