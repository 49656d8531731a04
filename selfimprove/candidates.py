"""Round 0's prelude as k draws side by side (``round0.prelude.candidates``), the first to master kept.

Whether a small NoPE model "clicks" on reverse addition is a draw over its initial weights and batch
order (docs/EXPERIMENTS.md, sessions 15-17 and 23): the prelude on 1-4 digits clicked seeds 0 and 1
in its first 7,200 steps, seeds 2 and 3 only in its second extra cycle, seed 4 never. Every lever
tried moved which seeds click; none made all of them click. So instead of betting on one draw, the
prelude trains k candidates at once, as one stacked model (ensemble.py: one batched product per
layer, each candidate its own weights, batches, loss, clipping and AdamW moments), and round 0 goes
on from the first candidate whose check masters the prelude's range::

    candidate 0          model m as built, its own batch order: with k = 1, the plain prelude
    candidate j >= 1     initial weights and batch order from seeds derived from model m's and j
    end of each cycle    every candidate answers the same fresh problems of the prelude's range;
                         the lowest-numbered one at round0.cycles.mastery goes on, and training stops
    after the last cycle none mastered: the one whose weakest level is best goes on

At batch 32 the demo's model spends about half of each step on per-operation overhead, so k
candidates cost less than k preludes (measured on 2 cores: k = 2 1.6x, k = 4 2.7x the time of one).

The checks use ground truth inside D0's range in round 0, as round0.cycles does: they choose which
oracle-trained weights start round 0 and never touch self-labelled data. They are kept in
``round_000/prelude/<prefix>cycles.json``, the stacked weights and optimizer in the prelude's
checkpoint, and the choice is read off the last check, so a run killed at any moment resumes to the
same choice and the same weights. One process only (no torchrun).
"""

from __future__ import annotations

import random
from dataclasses import replace

import torch

from selfimprove import distributed
from selfimprove.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from selfimprove.cycles import mastered, round0_cycles
from selfimprove.data import BatchPlan
from selfimprove.ensemble import make_stacked_optimizer, stack, stacked_train_steps, unstack
from selfimprove.errors import UserError
from selfimprove.io import read_json
from selfimprove.layout import RunDir
from selfimprove.run import Run, d0_accuracy, d0_problems_set, new_network
from selfimprove.tasks.base import format_difficulty
from selfimprove.train import resolve_precision


def candidate_seed(seed: int, j: int) -> int:
    """Candidate j's seed derived from model m's ``seed`` (candidate 0 keeps it)."""
    return seed if j == 0 else random.Random(f"prelude-candidate/{seed}/{j}").getrandbits(62)


def build_candidates(run: Run, m: int, k: int) -> list:
    """Model m as built, then k - 1 fresh networks initialised as ``run.build_models`` does, from
    the candidates' seeds."""
    return [run.models[m]] + [new_network(run, m, candidate_seed(run.init_seed(m), j)) for j in range(1, k)]


def choose(check: dict) -> int:
    """The first mastered candidate, else the one whose weakest level is best (the first of equals)."""
    if any(check["mastered"]):
        return check["mastered"].index(True)
    worst = [min(accuracy.values()) for accuracy in check["accuracy"]]
    return worst.index(max(worst))


def train_candidates(run: Run, files: RunDir, m: int, log) -> None:
    """Model m's prelude as ``round0.prelude.candidates`` stacked draws; model m ends with the
    chosen candidate's weights (their optimizer is the prelude's own and is dropped)."""
    if distributed.world_size() > 1:
        raise UserError("round0.prelude.candidates > 1 trains in one process; run without torchrun or set candidates: 1")
    r0, cycles = run.cfg.round0, run.cfg.round0.cycles
    prelude, folder, prefix = r0.prelude, files.prelude, files.prefix(m)
    tcfg, cut, k = prelude.train(r0.train), replace(r0, high=prelude.high), prelude.candidates
    candidates = build_candidates(run, m, k)
    stacked = stack(candidates)
    opt = make_stacked_optimizer(stacked, tcfg)
    start, saved = 0, {}
    if has_checkpoint(folder, prefix):
        saved = load_checkpoint(folder, stacked, opt, prefix, run.tok)
        start = saved["step"]
    record = folder / f"{prefix}cycles.json"
    checks = read_json(record) if files.exists(record) else []
    if not saved.get("finished"):
        d0 = d0_problems_set(run, m, cut)
        plans = [BatchPlan(candidate_seed(run.order_seed(m), j), 0, tcfg.batch_size, run.cfg.rounds.newest_fraction,
                           tcfg.bucket, run.cfg.rounds.mixture) for j in range(k)]
        precision = resolve_precision(tcfg.precision, run.device)

        def checkpoint(step: int, finished: bool = False) -> None:
            save_checkpoint(folder, stacked, opt, {"step": step, "round": 0, "prelude": True, "candidates": k,
                                                   "finished": finished, "vocab": run.tok.to_json()}, prefix)

        for cycle in round0_cycles(tcfg, cycles):
            suffix = f" cycle {cycle.index}" if cycle.index else ""
            if start < cycle.end:
                stacked_train_steps(stacked, opt, cycle.train,
                                    lambda s, o=cycle.offset: [p.batch([d0], s + o, run.tok.pad_id) for p in plans],
                                    run.tok.pad_id, precision, max(start - cycle.offset, 0),
                                    lambda s, o=cycle.offset: checkpoint(s + o), desc=f"prelude m{m} x{k}{suffix}",
                                    where=f"round 0 prelude, model {m}, {k} candidates{suffix.replace(' cycle', ', cycle')}")
                start = cycle.end
            if start > cycle.end:  # a later cycle's checkpoint: this check was made, and said "go on"
                continue
            if len(checks) <= cycle.index:  # not read back from a killed attempt: check now
                unstack(stacked, candidates)
                accuracy = [d0_accuracy(run, m, cycles.check_problems, cycle.index, cut, model=c) for c in candidates]
                checks.append({"cycle": cycle.index, "step": cycle.end, "accuracy": accuracy,
                               "mastered": [mastered(a, cycles) for a in accuracy]})
                files.write_json(record, checks, indent=1)
            check = checks[cycle.index]
            log(f"round   0 | model {m} at step {cycle.end}: the prelude's weakest level per candidate "
                + ", ".join(f"{min(a.values()):.1%}" for a in check["accuracy"])
                + (f" | candidate {check['mastered'].index(True)} mastered" if any(check["mastered"])
                   else f" < {cycles.mastery:.0%}" + (f": cycle {cycle.index + 1} of {cycles.max}"
                                                        if cycle.index < cycles.max else "")))
            if any(check["mastered"]):
                break
        checkpoint(start, finished=True)
    chosen = choose(checks[-1])
    unstack(stacked, candidates)
    with torch.no_grad():
        for mine, theirs in zip(run.models[m].parameters(), candidates[chosen].parameters()):
            mine.copy_(theirs)
    span = f"{format_difficulty(r0.low)}–{format_difficulty(prelude.high)}"
    log(f"round   0 | model {m}: prelude on {span} done ({checks[-1]['step']} steps at batch {tcfg.batch_size}, "
        f"{k} candidates): candidate {chosen} goes on")
