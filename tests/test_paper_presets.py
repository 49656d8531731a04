"""Every paper preset runs end to end at toy scale (``scale=tiny``): round 0 and two rounds.

Toy scale shrinks sizes only, so each run still takes the preset's code paths: k = 5 votes, the
length and verifier filters, multiplication and maze grids, accelerated probes, shared-data and
shared-init voting. The whole set takes minutes on two cores (``slow``); a sample covering
majority voting on mazes and a probed 1-D schedule runs in the default suite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfimprove.cli import main
from selfimprove.config import load_config

ROOT = Path(__file__).resolve().parents[1]
# The pretrained-model presets need a model folder; tests/test_hf_backend.py runs both of them for
# two rounds at toy scale on a tiny local Llama.
PAPER = sorted(p for p in (ROOT / "configs" / "paper").glob("*.yaml") if "llama" not in p.stem)
FAST = {"maze_hops_majority", "copy_accelerated"}
TOY = ["scale=tiny", "threads=1", "device=cpu"]


def params() -> list:
    return [pytest.param(p, id=p.stem, marks=[] if p.stem in FAST else [pytest.mark.slow]) for p in PAPER]


@pytest.mark.parametrize("path", params())
def test_every_paper_preset_finishes_two_rounds_at_toy_scale(path: Path, tmp_path: Path):
    full, toy = load_config(path), load_config(path, TOY)
    # the code paths a full run takes are all still there
    assert (toy.task, toy.rounds.schedule, toy.rounds.filters) == (full.task, full.rounds.schedule, full.rounds.filters)
    assert (toy.rounds.models, toy.rounds.voting, toy.rounds.problems_per, toy.rounds.mixture) == (
        full.rounds.models, full.rounds.voting, full.rounds.problems_per, full.rounds.mixture)
    assert (toy.eval.low, toy.eval.high, toy.eval.ahead, toy.eval.trained) == (
        full.eval.low, full.eval.high, full.eval.ahead, full.eval.trained)
    assert toy.rounds.count == 2 and toy.model.n_layer == 1

    out = tmp_path / path.stem
    assert main(["run", str(path), *TOY, "--out", str(out)]) == 0
    for r in range(3):
        assert (out / f"round_{r:03d}" / "DONE").exists()
    record = json.loads((out / "round_002" / "eval.json").read_text())
    assert len(record["models"] or [None]) == (1 if toy.rounds.voting == "more_data" else toy.rounds.models)
    stats = json.loads((out / "round_002" / "filter_stats.json").read_text())
    per = len(stats["difficulties"]) if toy.rounds.problems_per == "difficulty" else 1
    more = toy.rounds.models if toy.rounds.voting == "more_data" else 1
    owners = 1 if toy.rounds.voting in ("shared_data", "more_data") else toy.rounds.models
    assert stats["labelled"] == toy.rounds.problems * per * more * owners
    assert (out / "report.md").exists()


def test_toy_scale_is_idempotent_and_leaves_small_configs_alone():
    """A toy run's config.yaml (scale: tiny, already shrunk) loads to itself, so it resumes."""
    from selfimprove.config import config_from_dict

    toy = load_config(PAPER[0], TOY)
    assert config_from_dict(toy.to_dict()) == toy
    smoke = load_config(ROOT / "configs" / "smoke.yaml")
    shrunk = load_config(ROOT / "configs" / "smoke.yaml", ["scale=tiny"])
    assert shrunk.rounds.count == smoke.rounds.count == 2
    assert shrunk.round0.train.steps < smoke.round0.train.steps
    assert shrunk.round0.train.warmup_steps + shrunk.round0.train.decay_steps <= shrunk.round0.train.steps
