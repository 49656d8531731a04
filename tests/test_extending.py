"""docs/EXTENDING.md runs: its task file and config, written out as the page says, make a
self-improving run through the CLI, and its example commands print what the page shows."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from selfimprove.cli import main
from selfimprove.io import read_jsonl, read_yaml
from selfimprove.tasks import build_task

DOC = Path(__file__).resolve().parents[1] / "docs" / "EXTENDING.md"
# A fenced block's info string: language, then a file name, `check` or `tiny`.
BLOCK = re.compile(r"^```(\w+) (\S+)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


def blocks(kind: str) -> list[tuple[str, str]]:
    """(info word, body) of the page's blocks whose language is ``kind``."""
    return [(word, body) for lang, word, body in BLOCK.findall(DOC.read_text()) if lang == kind]


@pytest.fixture
def walkthrough(tmp_path, monkeypatch) -> Path:
    """tmp_path holding the page's files, as the working directory."""
    written = [(name, body) for kind in ("python", "yaml") for name, body in blocks(kind)]
    assert sorted(name for name, _ in written) == ["my_tasks/sort_digits.py", "my_tasks/sort_digits.yaml"]
    for name, body in written:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_pages_example_commands_print_what_it_shows(walkthrough, capsys):
    (_, body), = [b for b in blocks("console") if b[0] == "check"]
    commands = re.findall(r"^\$ selfimprove (.*)\n((?:(?!\$ ).*\n)*)", body, flags=re.MULTILINE)
    assert len(commands) == 2
    for command, shown in commands:
        main(shlex.split(command))
        assert capsys.readouterr().out == shown, command


def test_the_walkthrough_task_self_improves_through_the_cli(walkthrough, monkeypatch, capsys):
    (_, body), = [b for b in blocks("console") if b[0] == "tiny"]
    command = shlex.split(body.strip().removeprefix("$ selfimprove "))
    task_file = walkthrough / "my_tasks" / "sort_digits.py"
    task = build_task(None, task_file)
    asked = []  # the problems whose twins the labelling asked the task for
    original = type(task).twins
    monkeypatch.setattr(type(task), "twins", lambda self, p, rng: asked.append(p) or original(self, p, rng))

    assert main(command) == 0
    out = walkthrough / command[command.index("--out") + 1]
    printed = capsys.readouterr().out
    assert "task sort_digits, 2 rounds" in printed and f"report: {out.relative_to(walkthrough)}/report.md" in printed

    stored = read_yaml(out / "config.yaml")["task"]
    assert stored["name"] == "sort_digits" and stored["path"] == str(task_file)  # absolute: resumable anywhere
    high = read_yaml(walkthrough / "my_tasks" / "sort_digits.yaml")["round0"]["high"]
    checks = next(f["checks"] for f in read_yaml(out / "config.yaml")["rounds"]["filters"] if f["kind"] == "verifier")
    labelled = 0
    for r in (1, 2):
        folder = out / f"round_{r:03d}"
        assert json.loads((folder / "plan.json").read_text()) == [high + r]  # one new length per round
        rows = read_jsonl(folder / "labels.jsonl")
        assert rows and {row["difficulty"] for row in rows} == {high + r}
        stats = json.loads((folder / "filter_stats.json").read_text())
        assert [f["name"] for f in stats["filters"]] == ["consistency", "verifier"]
        assert stats["filters"][0]["in"] == len(rows)
        for row in rows:  # past the twins, the verifier dropped exactly the labels failing a named check
            passed = task.checks(task.parse(row["prompt"]), row["label"])
            if row["dropped_by"] != "consistency":
                assert (row["dropped_by"] == "verifier") == (not all(passed[c] for c in checks))
            assert row["kept"] == (row["dropped_by"] is None)
        labelled += len(rows)
    assert len(asked) == labelled  # every label's twins came from the task file's twins()
    for r in (0, 1, 2):
        record = json.loads((out / f"round_{r:03d}" / "eval.json").read_text())
        assert record["task"] == "sort_digits" and len(record["cells"]) == 16
        assert set(record["cells"][0]["checks"]) == set(task.check_names)

    # The run directory works from elsewhere: resume (nothing left to do), predict, report.
    elsewhere = walkthrough / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = walkthrough / "my_tasks" / "sort_digits.yaml"
    assert main(["run", str(config), "scale=tiny", "threads=1", "--out", str(out)]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", _Lines(["3141=", "987="]))
    assert main(["predict", str(out)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # one answer per prompt
    assert main(["report", str(out)]) == 0


class _Lines:
    def __init__(self, lines: list[str]) -> None:
        self.lines = [line + "\n" for line in lines]

    def __iter__(self):
        return iter(self.lines)
