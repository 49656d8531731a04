"""Every shipped config loads and says how to run it; malformed configs fail in one line naming the key.

The paper presets (configs/paper/) are GPU-scale and never run here: they are loaded, checked
against the paper's shared settings, and their schedules are replayed (no model) to prove that
no round plans a difficulty the task cannot sample and that 2-D evaluation grids cover training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from selfimprove.cli import main
from selfimprove.config import ConfigError, load_config
from selfimprove.evaluate import grid
from selfimprove.schedules import MultiplicationGrid
from selfimprove.tasks import get_task

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))
PAPER = sorted((ROOT / "configs" / "paper").glob("*.yaml"))
FROM_SCRATCH = [p for p in PAPER if "llama" not in p.stem]  # the pretrained presets: tests/test_hf_backend.py
SMOKE = ROOT / "configs" / "smoke.yaml"
MAZE = ROOT / "configs" / "paper" / "maze_hops_nofilter.yaml"


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_paper_presets_are_all_there():
    expected = {
        "reverse_addition", "reverse_addition_accelerated", "copy", "reverse", "copy_accelerated",
        "forward_addition_nofilter", "forward_addition_length",
        "multiplication_nofilter", "multiplication_length", "multiplication_majority",
        "multiplication_majority_length", "multiplication_majority_shared_data",
        "multiplication_majority_shared_init", "multiplication_more_data", "multiplication_accelerated",
        "maze_hops_nofilter", "maze_hops_majority", "maze_nodes_nofilter", "maze_nodes_majority",
        *(f"maze_{axis}_verifier_{which}" for axis in ("hops", "nodes") for which in ("both", "moves", "end")),
    }
    assert expected <= {p.stem for p in PAPER}


@pytest.mark.parametrize("path", CONFIGS, ids=rel)
def test_every_config_loads_and_its_first_line_runs_it(path: Path):
    load_config(path)
    assert path.read_text().splitlines()[0] == f"# selfimprove run {rel(path)}"


@pytest.mark.parametrize("path", FROM_SCRATCH, ids=rel)
def test_paper_presets_use_the_papers_shared_settings(path: Path):
    cfg = load_config(path)
    assert cfg.name == path.stem
    assert (cfg.model.n_layer, cfg.model.n_head, cfg.model.n_embd, cfg.model.mlp_hidden, cfg.model.rope) == (6, 6, 384, 1536, False)
    assert cfg.round0.examples in (2_000_000, 5_000_000)
    assert (cfg.rounds.problems, cfg.rounds.label_batch_size, cfg.rounds.newest_fraction) == (50_000, 1024, 0.5)
    for t in (cfg.round0.train, cfg.rounds.train):
        assert (t.beta1, t.beta2, t.eps, t.weight_decay, t.grad_clip, t.precision) == (0.9, 0.99, 1e-12, 0.1, 1.0, "auto")
        assert (t.decay_shape, t.min_lr_ratio) == ("linear", 0.01)
        assert t.batch_size in (512, 1024)
    if getattr(cfg.rounds.schedule, "probe_by", None):  # the accelerated schedules
        assert cfg.rounds.probe_problems == 2048


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_paper_schedules_plan_only_possible_difficulties(path: Path):
    """Replays every round's plan (accelerated ones with a probe that always fails, their slowest
    path) and samples one problem at each planned difficulty."""
    import random

    cfg = load_config(path)
    task = get_task(cfg.task.name, **cfg.task.options)
    schedule = cfg.rounds.schedule
    trained = grid(cfg.round0.low, cfg.round0.high)
    for r in range(1, cfg.rounds.count + 1):
        new = schedule.plan(r, trained, lambda d: 0.0)
        for d in new:
            task.sample(task.check_difficulty(d), random.Random(0))
        trained = trained + [d for d in new if d not in trained]
    if isinstance(trained[0], tuple):  # no `ahead` window in 2-D: the grid must cover training
        assert set(trained) <= set(grid(cfg.eval.low, cfg.eval.high))


# (overrides on configs/smoke.yaml unless a path is given, text the one-line error must contain)
BAD = [
    (["rounds.foo=1"], "rounds.foo"),
    (["rounds.train.stepz=1"], "rounds.train.stepz"),
    (["round0.examples=many"], "round0.examples"),
    (["rounds.train.lr=fast"], "rounds.train.lr"),
    (["eval.high=[3, 4]"], "eval.high"),
    (["rounds.count=-1"], "rounds.count"),
    (["model.n_embd=33"], "model.n_embd"),
    (["model.n_layer=0"], "model.n_layer"),
    (["task.name=division"], "task.name"),
    (["round0.high=0"], "round0.high"),
    (["round0.low=5", "round0.high=3"], "round0.low"),
    (["eval.low=7", "eval.high=6"], "eval.low"),
    (["eval.ahead=-1"], "eval.ahead"),
    (["eval.batch_size=0"], "eval.batch_size"),
    (["rounds.label_batch_size=0"], "rounds.label_batch_size"),
    (["rounds.probe_problems=0"], "rounds.probe_problems"),
    (["rounds.voting=everyone"], "rounds.voting"),
    (["rounds.newest_fraction=1.5"], "rounds.newest_fraction"),
    (["round0.train.decay_steps=100"], "round0.train"),
    (["rounds.train.warmup_steps=-1"], "rounds.train.warmup_steps"),
    (["round0.train.checkpoint_every=0"], "round0.train.checkpoint_every"),
    (["device=tpu"], "device"),
    (["rounds.schedule={kind: sideways}"], "rounds.schedule"),
    (["rounds.schedule={kind: multiplication_grid}"], "rounds.schedule"),
    (["rounds.filters=[{kind: bogus}]"], "rounds.filters[0]"),
    (["rounds.filters=[{kind: length, tau: -1}]"], "rounds.filters[0]"),
    (["rounds.filters=[{kind: length, tau: 1}, {kind: majority, tau: 0.7}]"], "rounds.filters[1]"),
    (["rounds.filters=[{kind: majority, tau: 0.7}]"], "rounds.models"),
    (["rounds.models=5", "rounds.voting=more_data", "rounds.filters=[{kind: majority, tau: 0.7}]"], "more_data"),
    (["rounds.models=3", "rounds.filters=[{kind: majority, tau: 0.7, k: 5}]"], "rounds.models"),
    (["rounds.filters=[{kind: verifier}]"], "rounds.filters[0]"),
    (["rounds.filters=[{kind: consistency, shifts: 1}]"], "rounds.filters[0]", MAZE),  # addition only
    (["rounds.filters=[{kind: consistency, cuts: 1}]"], "cut twins", MAZE),  # addition only
    (["rounds.filters=[{kind: consistency, splits: 1}]"], "split twins", MAZE),  # addition only
    (["rounds.filters=[{kind: verifier, checks: [shortest]}]"], "shortest", MAZE),  # not a maze check
    (["eval.high=[30, 30]"], "eval.high", MAZE),  # 30 hops need 31 nodes
    (["eval.low=[1, 10]"], "eval.low..eval.high", MAZE),  # the grid holds (29 hops, 10 nodes)
    (["rounds.schedule={kind: increment, axis: 2}"], "rounds.schedule.axis", MAZE),
]


@pytest.mark.parametrize("case", BAD, ids=lambda c: " ".join(c[0]))
def test_a_bad_config_is_one_config_error_naming_the_key(case):
    overrides, key, *path = case
    with pytest.raises(ConfigError) as err:
        load_config(path[0] if path else SMOKE, overrides)
    message = str(err.value)
    assert key in message and "\n" not in message


@pytest.mark.parametrize("overrides", [["rounds.foo=1"], ["round0.examples=many"], ["rounds.count=-1"],
                                       ["rounds.filters=[{kind: bogus}]"]], ids=" ".join)
def test_the_cli_reports_a_bad_config_in_one_line_with_exit_2(overrides, capsys):
    assert main(["run", rel(SMOKE), *overrides]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
    assert overrides[0].split("=")[0] in err


def test_the_cli_reports_a_missing_config_file_in_one_line(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_floats_without_a_dot_are_read_as_numbers(tmp_path):
    """PyYAML reads ``5e-4`` as a string (YAML 1.1); the loader takes it as the number meant,
    while a string that is not a number is still a wrong type, named."""
    path = tmp_path / "lr.yaml"
    path.write_text("# selfimprove run lr.yaml\nround0: {train: {lr: 5e-4}}\n")
    assert load_config(path).round0.train.lr == 5e-4
    path.write_text("# selfimprove run lr.yaml\nround0: {train: {lr: fast}}\n")
    with pytest.raises(ConfigError, match="round0.train.lr"):
        load_config(path)


def test_partner_presets_share_their_round_0():
    """Their comments say `--base runs/<partner>` works: that needs identical round-0 sections."""
    from selfimprove.resume import ROUND0_KEYS

    partners = [("reverse_addition_unfiltered", "reverse_addition_consistency", "reverse_addition_accelerated"),
                ("forward_addition_nofilter", "forward_addition_length", "forward_addition_consistency"), ("reverse", "reverse_accelerated"),
                ("multiplication_nofilter", "multiplication_majority_length"), ("maze_hops_nofilter", "maze_hops_majority")]
    for group in partners:
        first, *rest = [load_config(ROOT / "configs" / "cpu" / f"{name}.yaml").to_dict() for name in group]
        for name, preset in zip(group[1:], rest):
            assert all(preset[k] == first[k] for k in ROUND0_KEYS), name
            assert (preset["rounds"]["models"], preset["rounds"]["voting"]) == (first["rounds"]["models"], first["rounds"]["voting"])


# Where the paper and the authors' code differ, each paper preset names its reading (configs/README.md).
STATED = {"rounds": ("problems_per", "mixture", "keep_round0"), "eval": ("precision",)}


@pytest.mark.parametrize("path", PAPER, ids=rel)
def test_paper_presets_state_each_reading_explicitly(path: Path):
    import yaml

    raw = yaml.safe_load(path.read_text())
    for section, keys in STATED.items():
        assert all(k in raw[section] for k in keys), (section, keys)
    cfg = load_config(path)
    assert cfg.rounds.mixture == "uniform"  # paper §3: the older sets "are sampled uniformly"
    assert cfg.rounds.keep_round0 == (cfg.task.name not in ("copy", "reverse"))  # C.3.2: copy trains on D1..Dr
    if cfg.task.name in ("reverse_addition", "forward_addition", "copy", "reverse"):
        assert cfg.eval.trained  # Fig. 3's curves and "longest at >= 99%" need every trained length


def test_maze_nodes_presets_label_31_32_and_33_nodes_50k_each():
    """B.3.1: +3 nodes a round; the authors label every count in between, 50,000 each."""
    for path in (p for p in PAPER if p.stem.startswith("maze_nodes")):
        cfg = load_config(path)
        trained = grid(cfg.round0.low, cfg.round0.high)
        assert cfg.rounds.schedule.plan(1, trained) == [(9, 31), (9, 32), (9, 33)], path.stem
        assert (cfg.rounds.problems, cfg.rounds.problems_per) == (50_000, "difficulty")


def test_majority_presets_vote_4_of_5_as_the_paper():
    """C.3.2: five models, at least 4 of 5 agree (mazes included); the accelerated run 5 of 5."""
    from selfimprove.filters import MajorityFilter, votes_needed

    majority = [p for p in PAPER if "majority" in p.read_text().split("filters:")[1].split("\n")[0]]
    assert any(p.stem.startswith("maze") for p in majority)
    for path in majority:
        cfg = load_config(path)
        (vote,) = [f for f in cfg.rounds.filters if isinstance(f, MajorityFilter)]
        want = 5 if path.stem == "multiplication_accelerated" else 4
        assert (cfg.rounds.models, votes_needed(cfg.rounds.models, vote.tau)) == (5, want), path.stem


def test_multiplication_grid_presets_label_50k_per_cell():
    for path in (p for p in PAPER if p.stem.startswith("multiplication")):
        cfg = load_config(path)
        grid_schedule = isinstance(cfg.rounds.schedule, MultiplicationGrid)
        assert cfg.rounds.problems_per == ("difficulty" if grid_schedule else "round"), path.stem


def test_d0_gets_a_tenth_of_the_older_half_at_round_10_of_maze_hops():
    """Paper §3's uniform mixture: D0 is one of ten older sets at round 10, 5% of a batch (the
    levels rule gave it 9 of 18 shares, 25%)."""
    from selfimprove.data import TokenSet, mixture_weights

    cfg = load_config(ROOT / "configs" / "paper" / "maze_hops_majority.yaml")
    def fake(levels):
        return TokenSet(np.zeros((1, 1)), np.ones(1), np.ones(1), levels)
    sets = [fake(len(grid(cfg.round0.low, cfg.round0.high)))] + [fake(1) for _ in range(10)]
    weights = mixture_weights(sets, cfg.rounds.newest_fraction, cfg.rounds.mixture)
    assert weights[0] == pytest.approx(0.05) and weights[-1] == 0.5


BAD_NEW = [
    (["rounds.problems_per=cell"], "rounds.problems_per"),
    (["rounds.mixture=random"], "rounds.mixture"),
    (["eval.precision=fp8"], "eval.precision"),
    (["scale=huge"], "scale"),
    (["round0.levels=0"], "round0.levels"),
    (["rounds.voting=shared_everything"], "rounds.voting"),
    (["rounds.count=3", "rounds.schedule={kind: listed, rounds: [[4], [5]]}"], "listed has 2 rounds"),
    (["rounds.count=1", "rounds.schedule={kind: listed, rounds: [[0]]}"], "listed difficulty"),
    (["model.init_std=0"], "model.init_std"),
    (["model.init_std=-0.01"], "model.init_std"),
]


@pytest.mark.parametrize("case", BAD_NEW, ids=lambda c: " ".join(c[0]))
def test_the_new_settings_fail_in_one_line_naming_the_key(case):
    overrides, key = case
    with pytest.raises(ConfigError) as err:
        load_config(SMOKE, overrides)
    assert key in str(err.value) and "\n" not in str(err.value)


def test_model_init_std_sets_the_spread_of_the_initial_weights():
    from selfimprove.networks import build_network
    from selfimprove.tokenizer import Tokenizer

    def spreads(overrides):
        cfg = load_config(SMOKE, overrides)
        torch.manual_seed(0)
        net = build_network(cfg.model, Tokenizer.for_task(get_task(cfg.task.name)))
        return float(net.embed.weight.detach().std()), float(net.blocks[0].attn.proj.weight.detach().std())

    (emb, proj), (small_emb, small_proj) = spreads([]), spreads(["model.init_std=0.005"])
    assert emb == pytest.approx(0.02, rel=0.1) and small_emb == pytest.approx(0.005, rel=0.1)
    assert small_proj == pytest.approx(proj / 4, rel=0.1)  # the residual projections scale with it
