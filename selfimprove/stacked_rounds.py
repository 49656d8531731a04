"""A round's k vote models trained as one stacked model (``rounds.stacked``, rounds >= 1).

Each vote model keeps its own weights, batches, loss, clipping and AdamW moments inside one batched
model (ensemble.py), so the round trains what k separate runs would, in k times fewer, k times
larger operations. The round's file layout stays the per-model one::

    start of the round   each model and its AdamW state as round r-1 left them, stacked
    during the round     round_r/stacked_checkpoint: all k models' weights and moments, one atomic unit
    end of the round     each model's own checkpoint (m0_checkpoint, ...) unstacked from it, then
                         the stacked checkpoint is removed

A run killed anywhere resumes to the same weights: mid-round from the stacked checkpoint, and
while the per-model checkpoints are being written from the stacked one (still on disk). Greedy
answers and weights equal k separate models' up to the last bits of the products
(``tests/test_stacked_rounds.py``); the same config gives the same numbers every time.

Stacking needs one AdamW step size for all k models: their step counts may differ (round 0's
``cycles`` stop each model when it masters D0), and then only where the bias corrections
1 - beta^t of every model are the same number, as they are once t is in the thousands. Otherwise,
under torchrun, with slow-gradient amplification (``train.grad_ema_gain``), or for models that
cannot stack (a pretrained model), the models train one after another.
"""

from __future__ import annotations

import shutil

import torch

from selfimprove import distributed
from selfimprove.checkpoint import (
    checkpoint_dir,
    has_checkpoint,
    load_checkpoint,
    read_state,
    save_checkpoint,
)
from selfimprove.ensemble import (
    can_stack,
    make_stacked_optimizer,
    stack,
    stacked_train_steps,
    unstack,
)
from selfimprove.layout import RunDir
from selfimprove.loss_log import LossLog
from selfimprove.run import Run, load_round, round_plan, round_train, training_sets
from selfimprove.runtime import stacks_models
from selfimprove.train import TrainConfig, resolve_precision

PREFIX = "stacked_"  # round_r/stacked_checkpoint


def adam_step(optimizer: torch.optim.Optimizer) -> int:
    """How many updates ``optimizer`` has made (0 for a fresh one)."""
    for state in optimizer.state.values():
        return int(torch.as_tensor(state["step"]).item())
    return 0


def same_bias_corrections(steps: list[int], tcfg: TrainConfig) -> bool:
    """Whether one AdamW step count can stand for all of ``steps``: equal counts, or counts whose
    bias corrections 1 - beta1^t and 1 - beta2^t are the same doubles (and stay so as t grows)."""
    corrections = {(1 - tcfg.beta1 ** t, 1 - tcfg.beta2 ** t) for t in steps}
    return len(set(steps)) == 1 or corrections == {(1.0, 1.0)}


def trains_stacked(run: Run, r: int) -> bool:
    """Round r's k models train as one stacked model; the step counts are checked once loaded."""
    return (r > 0 and stacks_models(run.cfg, run.device) and run.cfg.rounds.train.grad_ema_gain == 0
            and distributed.world_size() == 1 and can_stack(run.models))


@torch.no_grad()
def stack_moments(stacked: torch.nn.Module, opt: torch.optim.Optimizer, models, optimizers) -> None:
    """Each model's AdamW moments into the stacked optimizer's, slice m from model m; the step
    count is model 0's (the others' give the same bias corrections: ``same_bias_corrections``)."""
    for name, weight in stacked.named_parameters():
        states = [o.state.get(model.get_parameter(name)) for model, o in zip(models, optimizers)]
        if not states[0]:
            continue  # a fresh optimizer: nothing to carry
        opt.state[weight] = {"step": states[0]["step"].clone(),
                             **{key: torch.stack([s[key] for s in states]) for key in ("exp_avg", "exp_avg_sq")}}


@torch.no_grad()
def unstack_moments(stacked: torch.nn.Module, opt: torch.optim.Optimizer, models, optimizers, offsets: list[int]) -> None:
    """The stacked optimizer's moments back into each model's optimizer; model m's step count is
    the stacked one plus ``offsets[m]`` (its own count before the round minus model 0's)."""
    for name, weight in stacked.named_parameters():
        state = opt.state.get(weight)
        if not state:
            continue
        for m, (model, o) in enumerate(zip(models, optimizers)):
            o.state[model.get_parameter(name)] = {
                "step": state["step"].clone() + offsets[m],
                "exp_avg": state["exp_avg"][m].clone(), "exp_avg_sq": state["exp_avg_sq"][m].clone()}


def train_stacked_round(run: Run, files: RunDir, r: int, log=lambda line: None) -> int | None:
    """Train round r's k models as one stacked model; returns the round's last step, or None when
    their AdamW step counts cannot share one count (the caller then trains them one by one)."""
    tcfg, folder, k = round_train(run.cfg, r), files.round(r), run.k
    prefixes = [files.prefix(m) for m in range(k)]
    if all(has_checkpoint(folder, p) and read_state(folder, p)["step"] >= tcfg.steps for p in prefixes):
        # the round finished before a kill (a one-by-one round's models may be at other steps)
        load_round(run, files, r)
        shutil.rmtree(checkpoint_dir(folder, PREFIX), ignore_errors=True)
        return tcfg.steps
    load_round(run, files, r - 1)  # each model and its AdamW state as round r-1 left them
    steps = [adam_step(o) for o in run.optimizers]
    if not same_bias_corrections(steps, tcfg):
        log(f"round {r:3d} | the {k} models' AdamW step counts {steps} differ: they train one after another")
        return None
    stacked = stack(run.models)
    opt = make_stacked_optimizer(stacked, tcfg)
    stack_moments(stacked, opt, run.models, run.optimizers)
    start = 0
    if has_checkpoint(folder, PREFIX):
        start = load_checkpoint(folder, stacked, opt, PREFIX, run.tok)["step"]
    plans = [round_plan(run, m, r, tcfg) for m in range(k)]
    sets = [training_sets(run.sets[m], r, run.cfg.rounds.keep_round0) for m in range(k)]

    def batches(step: int) -> list:
        return [plan.batch(own, step, run.tok.pad_id) for plan, own in zip(plans, sets)]

    def checkpoint(step: int) -> None:
        save_checkpoint(folder, stacked, opt, {"step": step, "round": r, "stacked": k, "vocab": run.tok.to_json()},
                        PREFIX)

    if start < tcfg.steps:
        logs = [LossLog(files.losses(r), m) for m in range(k)]
        for one in logs:
            one.restart(start)

        def record(step: int, window: list[list[float]]) -> None:
            for m, one in enumerate(logs):
                one.append(step, [values[m] for values in window])

        stacked_train_steps(stacked, opt, tcfg, batches, run.tok.pad_id, resolve_precision(tcfg.precision, run.device),
                            start, checkpoint, desc=f"train r{r} x{k}", where=f"round {r}, {k} stacked models",
                            on_losses=record)
    unstack(stacked, run.models)
    unstack_moments(stacked, opt, run.models, run.optimizers, [s - steps[0] for s in steps])
    for m, (model, o) in enumerate(zip(run.models, run.optimizers)):
        for mine, theirs in zip(o.param_groups, opt.param_groups):  # lr, betas, eps, decay as trained
            mine.update({key: value for key, value in theirs.items() if key != "params"})
        save_checkpoint(folder, model, o, {"step": tcfg.steps, "round": r, "vocab": run.tok.to_json()}, prefixes[m])
    shutil.rmtree(checkpoint_dir(folder, PREFIX), ignore_errors=True)
    return tcfg.steps
