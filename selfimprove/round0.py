"""How round 0 trains one model: the prelude on D0's shortest lengths (``round0.prelude``; with
``candidates`` > 1 several draws of it side by side, candidates.py), then
round0.train's schedule on all of D0, then, with ``round0.cycles``, more cycles until a check finds
D0 mastered. Every stage resumes from its own checkpoints, so a run killed anywhere in round 0
ends as an uninterrupted one did (prelude.py, cycles.py)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from selfimprove import distributed
from selfimprove.candidates import train_candidates
from selfimprove.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from selfimprove.config import Round0Section
from selfimprove.cycles import mastered, round0_cycles
from selfimprove.data import BatchPlan
from selfimprove.io import read_json
from selfimprove.layout import RunDir
from selfimprove.loss_log import LossLog
from selfimprove.run import Run, d0_accuracy, d0_problems_set
from selfimprove.tasks.base import format_difficulty
from selfimprove.train import TrainConfig, make_optimizer, train_steps


def train_prelude(run: Run, files: RunDir, m: int, log) -> None:
    """Model m through the prelude (and, with ``round0.cycles``, its cycles until a check finds the
    prelude's range mastered), from its last prelude checkpoint; the weights it ends with are
    round 0's start (its optimizer is the prelude's own and is dropped)."""
    r0 = run.cfg.round0
    prelude, folder, prefix = r0.prelude, files.prelude, files.prefix(m)
    tcfg, cut = prelude.train(r0.train), replace(r0, high=prelude.high)
    model, opt = run.models[m], make_optimizer(run.models[m], tcfg)
    start, saved = 0, {}
    if distributed.main_decides(has_checkpoint(folder, prefix)):
        saved = load_checkpoint(folder, model, opt, prefix, run.tok)
        start = saved["step"]
    if saved.get("finished"):
        return  # finished before a kill: its weights are loaded, round 0 proper starts from them
    d0 = d0_problems_set(run, m, cut)
    plan = BatchPlan(run.order_seed(m), 0, tcfg.batch_size, run.cfg.rounds.newest_fraction, tcfg.bucket,
                     run.cfg.rounds.mixture)

    def checkpoint(step: int, finished: bool = False) -> None:
        if distributed.is_main():
            save_checkpoint(folder, model, opt, {"step": step, "round": 0, "prelude": True, "finished": finished,
                                                 "vocab": run.tok.to_json()}, prefix)
        distributed.barrier()

    span = f"{format_difficulty(r0.low)}–{format_difficulty(prelude.high)}"
    end = train_in_cycles(run, m, opt, tcfg, lambda s: plan.batch([d0], s, run.tok.pad_id), start, checkpoint,
                          Stage(f"prelude m{m}", f"round 0 prelude, model {m}", "the prelude",
                                folder / f"{prefix}cycles.json", cut, folder / files.losses(0).name), files, log)
    checkpoint(end, finished=True)
    log(f"round   0 | model {m}: prelude on {span} done ({end} steps at batch {tcfg.batch_size})")


def train_round0(run: Run, files: RunDir, m: int, batches, start: int, checkpoint, log) -> int:
    """Round 0 of model m from step ``start`` (0: the prelude first, when there is one):
    round0.train's schedule, then, with ``round0.cycles``, more cycles until a check finds D0
    mastered (cycles.py); returns the step round 0 ends at."""
    prelude = run.cfg.round0.prelude
    if start == 0 and prelude is not None:
        (train_candidates if prelude.candidates > 1 else train_prelude)(run, files, m, log)
    stage = Stage(f"train r0 m{m}", f"round 0, model {m}", "D0", files.cycles(m), run.cfg.round0, files.losses(0))
    return train_in_cycles(run, m, run.optimizers[m], run.cfg.round0.train, batches, start, checkpoint, stage,
                           files, log)


@dataclass(frozen=True)
class Stage:
    """What a stage of round 0 is called (progress bar, errors, log) and where its checks go."""

    desc: str
    where: str
    levels: str  # whose levels a check scores, in the log line: "D0", "the prelude"
    record: Path  # its cycles.json
    range: Round0Section  # its low .. high: the cells a check scores
    losses: Path  # its losses.jsonl (loss_log.py)


def train_in_cycles(run: Run, m: int, opt, tcfg: TrainConfig, batches, start: int, checkpoint, stage: Stage,
                    files: RunDir, log) -> int:
    """Model m on ``batches`` from step ``start``: ``tcfg``'s schedule, then, with ``round0.cycles``,
    more cycles until a check of fresh problems in ``stage.range`` finds every level mastered; each
    check is kept in ``stage.record`` and read back on resume. Returns the step training ends at."""
    cycles = run.cfg.round0.cycles
    checks = read_json(stage.record) if files.exists(stage.record) else []
    losses = LossLog(stage.losses, m, distributed.is_main())
    losses.restart(start)
    for cycle in round0_cycles(tcfg, cycles):
        if start < cycle.end:
            suffix = f" cycle {cycle.index}" if cycle.index else ""
            train_steps(run.models[m], opt, cycle.train, lambda s, o=cycle.offset: batches(s + o),
                        max(start - cycle.offset, 0), lambda s, o=cycle.offset: checkpoint(s + o),
                        desc=stage.desc + suffix, where=stage.where + suffix.replace(" cycle", ", cycle"),
                        on_losses=lambda s, values, o=cycle.offset: losses.append(s + o, values))
            start = cycle.end
        if cycles is None or cycle.index == cycles.max:
            return cycle.end
        if start > cycle.end:  # a later cycle's checkpoint: this check was made, and said "go on"
            continue
        if len(checks) <= cycle.index:  # not read back from a killed attempt: check now
            accuracy = d0_accuracy(run, m, cycles.check_problems, cycle.index, stage.range)
            checks.append({"cycle": cycle.index, "step": cycle.end, "accuracy": accuracy,
                           "mastered": mastered(accuracy, cycles)})
            files.write_json(stage.record, checks, indent=1)
        check = checks[cycle.index]
        worst = min(check["accuracy"], key=check["accuracy"].get)
        log(f"round   0 | model {m} at step {cycle.end}: {stage.levels}'s weakest level {worst} at "
            f"{check['accuracy'][worst]:.1%}"
            + (" | mastered" if check["mastered"] else f" < {cycles.mastery:.0%}: cycle {cycle.index + 1} of {cycles.max}"))
        if check["mastered"]:
            return cycle.end
    raise AssertionError("unreachable: the last cycle returns")
