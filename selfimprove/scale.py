"""Toy scale: any config, paper presets included, shrunk to seconds on a CPU (``scale=tiny``).

What shrinks: the model (1 layer, width 32), D0, training steps (warmup and decay kept in
proportion; round 0's cycles and prelude too), rounds (at most 2), problems per round, probe problems, evaluation problems per
cell. What stays: the task and its difficulties, the schedule (probes included), every filter,
the number of voting models and the voting variant, the evaluation grid and its window, the
mixture and precision settings: every code path a full run takes, at a size that proves it runs::

    selfimprove run configs/paper/maze_nodes_majority.yaml scale=tiny threads=1 --out runs/toy

Shrinking takes the minimum of each value and the toy size, so applying it twice changes
nothing (a run directory's config.yaml, which says ``scale: tiny``, loads to itself).
"""

from __future__ import annotations

from dataclasses import replace

from selfimprove.train import TrainConfig

TINY_MODEL = {"n_layer": 1, "n_head": 2, "n_embd": 32, "mlp_hidden": 64}
TINY = {
    "round0.examples": 256, "round0.steps": 12, "rounds.steps": 6, "batch_size": 16, "checkpoint_every": 6,
    "rounds.count": 2, "rounds.problems": 24, "rounds.probe_problems": 8, "label_batch_size": 512,
    "eval.n": 1, "eval.batch_size": 512,
}


def _train(t: TrainConfig, steps: int) -> TrainConfig:
    """``t`` with at most ``steps`` steps, warmup and decay scaled by the same factor."""
    new = min(t.steps, steps)
    ratio = new / t.steps if t.steps else 1.0
    warmup, decay = int(t.warmup_steps * ratio), int(t.decay_steps * ratio)
    return replace(t, steps=new, warmup_steps=warmup, decay_steps=min(decay, new - warmup),
                   batch_size=min(t.batch_size, TINY["batch_size"]),
                   checkpoint_every=min(t.checkpoint_every, TINY["checkpoint_every"]))


def _schedule(section, **changes):
    """``section`` (round0.cycles or round0.prelude) with its steps, warmup and decay shrunk as ``_train``
    shrinks round 0's, and ``changes``."""
    shrunk = _train(TrainConfig(steps=section.steps, warmup_steps=section.warmup_steps,
                                decay_steps=section.decay_steps), TINY["round0.steps"])
    return replace(section, steps=shrunk.steps, warmup_steps=shrunk.warmup_steps, decay_steps=shrunk.decay_steps,
                   **changes)


def apply_scale(cfg):
    """``cfg`` as it is (scale: full) or shrunk to toy size (scale: tiny)."""
    if cfg.scale != "tiny":
        return cfg
    model = replace(cfg.model, **{k: min(getattr(cfg.model, k), v) for k, v in TINY_MODEL.items()})
    if model.n_embd % model.n_head:  # a model already smaller than the toy one keeps its heads valid
        model = replace(model, n_head=1)
    r0, rs, ev = cfg.round0, cfg.rounds, cfg.eval
    round0 = replace(r0, examples=min(r0.examples, TINY["round0.examples"]), train=_train(r0.train, TINY["round0.steps"]))
    if r0.cycles is not None:  # each cycle as short as round 0, its checks on a few problems
        round0 = replace(round0, cycles=_schedule(r0.cycles, check_problems=min(r0.cycles.check_problems, TINY["eval.n"])))
    if r0.prelude is not None:  # as short as round 0, on batches no larger
        round0 = replace(round0, prelude=_schedule(r0.prelude, batch_size=min(r0.prelude.batch_size, TINY["batch_size"])))
    rounds = replace(rs, count=min(rs.count, TINY["rounds.count"]), problems=min(rs.problems, TINY["rounds.problems"]),
                     probe_problems=min(rs.probe_problems, TINY["rounds.probe_problems"]),
                     label_batch_size=min(rs.label_batch_size, TINY["label_batch_size"]),
                     train=_train(rs.train, TINY["rounds.steps"]))
    if rs.relabel is not None:  # relabelled difficulties on as few problems as a round's new ones
        rounds = replace(rounds, relabel=replace(rs.relabel, problems=min(rs.relabel.problems, TINY["rounds.problems"])))
    evaluation = replace(ev, n=min(ev.n, TINY["eval.n"]), batch_size=min(ev.batch_size, TINY["eval.batch_size"]))
    return replace(cfg, model=model, round0=round0, rounds=rounds, eval=evaluation)
