"""Optional task capabilities: which built-in declares which, and that the generic modules
(consistency, filters, config, report, cli, analysis) find them on the task, not by its name."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from selfimprove.analysis.errors import family
from selfimprove.config import ConfigError, load_config
from selfimprove.consistency import has_cut_twins, has_shifted_twins, has_twins, twins
from selfimprove.report import _axis_names
from selfimprove.tasks import HasAddends, HasChecks, get_task, task_names
from selfimprove.tasks.base import axis_labels, example_difficulty
from selfimprove.tasks.maze import CHECKS

BUILT_IN = task_names()
# A task file whose task has the required members only (copy's), none of the optional ones.
BARE = """
from selfimprove.tasks import register
from selfimprove.tasks.registry import REQUIRED
from selfimprove.tasks.strings import StringTask


class Bare:
    def __init__(self):
        copy = StringTask(reverse=False)
        for member in REQUIRED:
            setattr(self, member, getattr(copy, member))
        self.name = "bare"


register("bare", Bare)
"""


def test_which_built_in_declares_which_capability():
    assert all(has_twins(get_task(n)) for n in BUILT_IN)
    assert {n for n in BUILT_IN if has_shifted_twins(get_task(n))} == {
        "reverse_addition", "forward_addition", "copy", "reverse"}
    assert {n for n in BUILT_IN if has_cut_twins(get_task(n))} == {"reverse_addition", "forward_addition"}
    assert {n for n in BUILT_IN if isinstance(get_task(n), HasChecks)} == {"maze"}
    assert get_task("maze").check_names == CHECKS
    assert {n for n in BUILT_IN if isinstance(get_task(n), HasAddends)} == {"reverse_addition", "forward_addition"}


@pytest.mark.parametrize("name", ["reverse_addition", "forward_addition"])
def test_addends_round_trip(name):
    task = get_task(name)
    problem = task.sample(7, random.Random(0))
    assert task.addends(task.from_addends(*task.addends(problem))) == task.addends(problem)
    assert sum(task.addends(task.parse("21+543="))) == (12 + 345 if name == "reverse_addition" else 21 + 543)


def test_display_capabilities_keep_what_the_name_tables_said():
    # The values cli.EXAMPLE_SIZE, report._AXES and analysis.errors.family held before they moved.
    examples = {"reverse_addition": 3, "forward_addition": 3, "copy": 5, "reverse": 5,
                "multiplication": (3, 2), "maze": (3, 6)}
    assert {n: example_difficulty(get_task(n)) for n in BUILT_IN} == examples
    assert axis_labels(get_task("multiplication")) == ("digits of a", "digits of b")
    assert axis_labels(get_task("maze")) == ("hops", "nodes")
    assert {n: family(get_task(n)) for n in BUILT_IN} == {
        **{n: "digits" for n in BUILT_IN}, "multiplication": "cot", "maze": "checks"}


def test_a_task_without_capabilities_gets_defaults_and_clear_refusals(tmp_path):
    bare = SimpleNamespace(name="bare", axes=("a", "b"))
    assert example_difficulty(bare) == (3, 3) and axis_labels(bare) == ("a", "b") and family(bare) == "digits"
    with pytest.raises(ValueError, match="'bare' has no consistency twins"):
        twins(bare, None, random.Random(0))
    with pytest.raises(ValueError, match="shifted twins exist for"):
        twins(get_task("maze"), get_task("maze").sample((2, 4), random.Random(0)), random.Random(0), shifts=1)
    (tmp_path / "bare.py").write_text(BARE)
    config = tmp_path / "run.yaml"
    config.write_text("task: {path: bare.py}\n")
    assert load_config(config).task.build().name == "bare"
    for filters, words in [("[{kind: consistency}]", "no consistency twins"), ("[{kind: verifier}]", "no verifier checks")]:
        with pytest.raises(ConfigError, match=rf"rounds.filters\[0\]: task 'bare' has {words}"):
            load_config(config, [f"rounds.filters={filters}"])


def test_a_label_free_schedule_needs_voters_or_twins_at_load(tmp_path, capsys):
    """One model probes by agreement with its consistency twins: a task without them is refused
    when the config loads (exit 2, one line), not when round 1 probes."""
    from selfimprove.cli import main

    (tmp_path / "bare.py").write_text(BARE)
    config = tmp_path / "run.yaml"
    config.write_text("task: {path: bare.py}\nround0: {low: 1, high: 3}\neval: {low: 1, high: 4}\n"
                      "rounds: {schedule: {kind: label_free_accelerated}, filters: []}\n")
    with pytest.raises(ConfigError, match="probes by agreement.*task 'bare' has none"):
        load_config(config)
    assert main(["run", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: rounds.schedule: ") and err.count("\n") == 1 and not (tmp_path / "out").exists()
    # Voters agree among themselves, so the same task probes by agreement with two models.
    assert load_config(config, ["rounds.models=2"]).rounds.k == 2


def test_report_axis_names_come_from_the_runs_task(tmp_path):
    def run(task: dict) -> SimpleNamespace:
        return SimpleNamespace(config={"task": task}, task=task.get("name", "unknown task"))

    assert _axis_names(run({"name": "multiplication"})) == ("digits of a", "digits of b")
    assert _axis_names(run({"name": "maze", "options": {}})) == ("hops", "nodes")
    gone = {"name": "sort_digits", "path": str(Path(tmp_path) / "moved_away.py")}
    assert _axis_names(run(gone)) == ("difficulty[0]", "difficulty[1]")  # a report still gets written
