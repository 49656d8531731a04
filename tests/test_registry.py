"""Filters and schedules as registered objects: parsed once, written back as given, extended by
one class and one registry line, asked for what they need rather than what they are."""

from __future__ import annotations

import ast
import doctest
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from selfimprove import filters, layout, registry, schedules, summary
from selfimprove.config import ConfigError, load_config, to_plain
from selfimprove.filters import (
    FILTERS,
    ConsistencyFilter,
    LengthFilter,
    MajorityFilter,
    apply_filters,
)
from selfimprove.schedules import AGREEMENT, SCHEDULES, Increment, Listed
from selfimprove.tasks import task_names

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"


@pytest.mark.parametrize("module", [registry, layout, summary, filters, schedules], ids=lambda m: m.__name__)
def test_the_worked_examples_in_the_docstrings_hold(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_a_config_holds_parsed_objects_and_writes_back_exactly_what_was_given():
    cfg = load_config(SMOKE, ["rounds.schedule={kind: increment, step: 1}",
                              "rounds.filters=[{tau: 1, kind: length}, {kind: consistency, shifts: 0}]"])
    assert cfg.rounds.schedule == Increment() and cfg.rounds.filters == (LengthFilter(1), ConsistencyFilter())
    plain = to_plain(cfg)["rounds"]
    # The defaults given explicitly stay, and so does the key order (config.yaml as written).
    assert plain["schedule"] == {"kind": "increment", "step": 1}
    assert [list(f) for f in plain["filters"]] == [["tau", "kind"], ["kind", "shifts"]]
    assert to_plain(load_config(SMOKE, ["rounds.filters=[]"]))["rounds"]["filters"] == []
    default = yaml.safe_load("rounds: {}")
    from selfimprove.config import config_from_dict

    assert to_plain(config_from_dict(default))["rounds"]["schedule"] == {"kind": "increment"}


def test_an_object_built_in_code_is_written_with_every_field():
    assert registry.as_config(MajorityFilter(0.7)) == {"kind": "majority", "tau": 0.7, "k": None}
    assert registry.as_config(Listed(rounds=[[3], [4, 5]])) == {"kind": "listed", "rounds": ((3,), (4, 5))}
    assert registry.as_config(object()) is None
    with pytest.raises(TypeError):
        SCHEDULES.kind_of(LengthFilter(1))


@pytest.mark.parametrize("overrides, words", [
    (["rounds.filters={kind: length, tau: 1}"], "rounds.filters must be a list"),
    (["rounds.filters=[7]"], "rounds.filters[0] must be a mapping like {kind: length, tau: 1}"),
    (["rounds.schedule=increment"], "rounds.schedule must be a mapping like {kind: increment}"),
    (["rounds.filters=[{kind: length, tau: 1}, {kind: majority, tau: 0.7, k: true}]"], "rounds.filters[1]: filter 'majority': k"),
    (["rounds.schedule={kind: accelerated, threshold: high}"], "rounds.schedule: schedule 'accelerated': threshold"),
])
def test_a_malformed_filter_or_schedule_is_one_line_naming_its_place(overrides, words):
    with pytest.raises(ConfigError) as err:
        load_config(SMOKE, overrides)
    assert words in str(err.value) and "\n" not in str(err.value)


def strings_in_code(paths, words: set[str]) -> list[str]:
    """Where a string constant (not a docstring) of these files is one of ``words``."""
    found = []
    for path in sorted(paths):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and ast.get_docstring(node) is not None}
        found += [f"{path.relative_to(ROOT)}:{node.lineno} {node.value}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in words and id(node) not in docstrings]
    return found


def test_no_module_outside_filters_and_schedules_names_a_kind():
    """Generic code asks for declared needs (votes, twins, checks, probe_by, axes), never kinds."""
    kinds = (set(FILTERS.kinds) | set(SCHEDULES.kinds)) - {"length"}  # also a task's axis name
    paths = [p for p in (ROOT / "selfimprove").rglob("*.py") if p.name not in ("filters.py", "schedules.py")]
    assert strings_in_code(paths + list((ROOT / "scripts").glob("*.py")), kinds) == []


def test_no_module_outside_the_tasks_names_a_task():
    """Generic code asks a task for its capabilities (tasks/base.py), never for its name; the
    benchmarks measure one task on purpose."""
    tasks = ROOT / "selfimprove" / "tasks"
    paths = [p for p in (ROOT / "selfimprove").rglob("*.py") if tasks not in p.parents]
    assert strings_in_code(paths + list((ROOT / "scripts").glob("*.py")), set(task_names())) == []


@pytest.fixture
def scratch_registries(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(FILTERS, "kinds", dict(FILTERS.kinds))
    monkeypatch.setattr(SCHEDULES, "kinds", dict(SCHEDULES.kinds))
    monkeypatch.setattr(registry, "_OWNERS", dict(registry._OWNERS))


def test_a_new_filter_and_schedule_are_one_class_and_one_line_each(scratch_registries, tmp_path):
    """A schedule that leaps two lengths when the label-free probe allows it, and a filter that
    keeps labels whose twins agree or that are short: neither kind is known to the loop, which
    builds the agreement probe and answers the twins because they declare so."""

    @SCHEDULES.register("leap")
    @dataclass(frozen=True)
    class Leap:
        probe_by: ClassVar[str] = AGREEMENT
        threshold: float = 0.5

        def plan(self, round, trained, probe=None):
            top = max(trained)
            return [top + 1, top + 2] if probe(top + 2) >= self.threshold else [top + 1]

    @FILTERS.register("twins_or_short")
    @dataclass(frozen=True)
    class TwinsOrShort:
        chars: int = 2

        @property
        def twins(self) -> int:
            return 0

        def apply(self, items, task):
            kept = [i for i in items if i.twins_agree or len(i.label) <= self.chars]
            return kept, {"name": "twins_or_short", "in": len(items), "kept": len(kept)}

    from selfimprove.rounds import run_rounds

    cfg = load_config(SMOKE, ["rounds.count=1", "rounds.schedule={kind: leap, threshold: 0.0}",
                              "rounds.filters=[{kind: twins_or_short}]", "round0.train.steps=30",
                              "rounds.train.steps=15", "rounds.problems=24", "rounds.probe_problems=8"])
    run_rounds(cfg, tmp_path, log=lambda line: None)
    probe = json.loads((tmp_path / "round_001" / "probe.json").read_text())
    assert probe["kind"] == "agreement" and [v["difficulty"] for v in probe["values"]] == [5]
    assert json.loads((tmp_path / "round_001" / "plan.json").read_text()) == [4, 5]
    stats = json.loads((tmp_path / "round_001" / "filter_stats.json").read_text())
    assert stats["filters"][0]["name"] == "twins_or_short" and stats["filters"][0]["in"] == 24
    stored = yaml.safe_load((tmp_path / "config.yaml").read_text())["rounds"]
    assert stored["schedule"] == {"kind": "leap", "threshold": 0.0} and stored["filters"] == [{"kind": "twins_or_short"}]
    items = [filters.Labelled("p", 4, "12", twins_agree=False), filters.Labelled("q", 4, "123", twins_agree=False)]
    assert [i.label for i in apply_filters(items, cfg.rounds.filters, None)[0]] == ["12"]


def test_no_module_outside_voting_names_a_voting_variant():
    """The round loop asks the variant (shared labels, init, D0, one model), never its name."""
    from selfimprove.voting import VARIANTS

    paths = [p for p in (ROOT / "selfimprove").rglob("*.py") if p.name != "voting.py"]
    assert strings_in_code(paths + list((ROOT / "scripts").glob("*.py")), set(VARIANTS) - {"independent"}) == []
