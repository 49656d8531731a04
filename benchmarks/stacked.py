"""The stacked-ensemble row of the benchmark: k vote models as one model vs k separate ones.

Both sides train the same k models (different inits, each on its own batches, padded like a
self-improvement round's: ``bucket=1``) for the same steps, then label the same prompts, each
model answering every prompt as majority voting needs. Rounds alternate separate, stacked, so
load from other processes hits both alike; the ratio is stacked time / separate time, medians of
the rounds, training and labelling together.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from workload import label_prompts, round0_sets

from selfimprove.data import BatchPlan
from selfimprove.ensemble import make_stacked_optimizer, stack, stacked_labels, stacked_train_steps
from selfimprove.generate import Decoding, greedy_labels
from selfimprove.model import ModelConfig, Transformer
from selfimprove.tokenizer import Tokenizer
from selfimprove.train import TrainConfig, make_optimizer, train_steps


def bench_stacked(cfg: ModelConfig, tok: Tokenizer, k: int, precision: str, rounds: int, steps: int, prompts: int,
                  seed: int, clock=time.perf_counter, device: str = "cpu", batch_size: int = 128) -> dict[str, float]:
    """Print the table; return the stacked / separate time ratios: ``train_ratio``, ``label_ratio``
    and ``stacked_ratio`` (both together)."""
    models = []
    for m in range(k):
        torch.manual_seed(seed + m)
        models.append(Transformer(cfg).to(device))
    sets = [round0_sets(tok, 2048, seed + m) for m in range(k)]
    plans = [BatchPlan(seed=seed + m, round=0, batch_size=batch_size, bucket=1) for m in range(k)]
    train_cfg = TrainConfig(steps=10**6, batch_size=batch_size, precision=precision, checkpoint_every=10**6)
    separate = [copy.deepcopy(m) for m in models]
    optimizers = [make_optimizer(m, train_cfg) for m in separate]
    stacked = stack(models)
    stacked_opt = make_stacked_optimizer(stacked, train_cfg)
    ps, limit = label_prompts(tok, prompts, seed + 1)
    limits, never = [limit] * len(ps), -1  # never EOS: every row decodes `limit` tokens

    def batches(s):
        return [plan.batch(model_sets, s, tok.pad_id) for plan, model_sets in zip(plans, sets)]

    step = 0

    def train_separate(n):
        cfg = TrainConfig(**{**train_cfg.to_dict(), "steps": step + n})
        for m, (model, opt) in enumerate(zip(separate, optimizers)):
            train_steps(model, opt, cfg, lambda s, m=m: batches(s)[m], start=step)

    def train_stacked(n):
        cfg = TrainConfig(**{**train_cfg.to_dict(), "steps": step + n})
        stacked_train_steps(stacked, stacked_opt, cfg, batches, tok.pad_id, precision, start=step)

    def label_separate():
        return [greedy_labels(m, ps, limits, never, tok.pad_id, Decoding(256, precision)) for m in separate]

    def label_stacked():
        return stacked_labels(stacked, ps, limits, never, tok.pad_id, Decoding(256, precision))

    times: dict[str, list[float]] = {key: [] for key in ("train separate", "train stacked", "label separate", "label stacked")}
    for r in range(rounds + 1):  # round 0 warms up, untimed
        n = 1 if r == 0 else steps
        for key, fn in (("train separate", lambda n=n: train_separate(n)), ("train stacked", lambda n=n: train_stacked(n)),
                        ("label separate", label_separate), ("label stacked", label_stacked)):
            t = clock()
            fn()
            if r:
                times[key].append(clock() - t)
        step += n
    med = {key: statistics.median(v) for key, v in times.items()}
    train_ratio = med["train stacked"] / med["train separate"]
    label_ratio = med["label stacked"] / med["label separate"]
    total = (med["train stacked"] + med["label stacked"]) / (med["train separate"] + med["label separate"])
    shape = f"{cfg.n_layer} layers, width {cfg.n_embd}"
    print(f"stacked ensemble: k = {k} models ({shape}), {precision}; {steps} training steps at batch {batch_size} "
          f"(each model its own batches), then every model labels {len(ps)} 17-digit prompts; median of {rounds} rounds")
    print(f"  {'':16s} {f'{k} separate s':>12s} {'stacked s':>10s} {'ratio':>6s}")
    print(f"  {'training':16s} {med['train separate']:12.2f} {med['train stacked']:10.2f} {train_ratio:6.2f}")
    print(f"  {'labelling':16s} {med['label separate']:12.2f} {med['label stacked']:10.2f} {label_ratio:6.2f}")
    print(f"  stacked_ratio (training + labelling) = {total:.2f} (goal <= 0.6)")
    print()
    return {"train_ratio": train_ratio, "label_ratio": label_ratio, "stacked_ratio": total}
