"""Throughput of our training loop and labelling against Hugging Face Llama (true NoPE), same weights.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/throughput.py [--quick] [--threads N]``).

What is compared (the paper's 14M config: 6 layers, 6 heads, width 384, MLP 1536):

* **training** - useful tokens per second, where useful = answer + EOS targets (the only scored
  positions), on a round-0 reverse-addition stream (operand lengths 1-16 drawn independently,
  batch 128). Each side uses its own best batching: ours is ``BatchPlan`` with its default
  length bucketing (``bucket=8``); the baseline pads every batch to its longest row, as the
  authors' collator does (``BatchPlan`` with ``bucket=1``). Ours runs ``train_steps``; the
  baseline runs the same loop by hand (HF forward -> our masked loss -> backward -> clip ->
  AdamW), see ``hf_baseline.py``. Both start from the same weights, fp32 and bf16 autocast.
* **labelling** - problems per second, greedy, 256 prompts of 17-digit reverse addition, 18
  tokens each (``max_answer_len(17)``). Decoding is forced to exactly 18 tokens on both sides
  (ours: an EOS id that never occurs; HF: ``eos_token_id=None``), so a random model does the
  same work a trained one does on these prompts - 18 answer digits, then the bound stops it.
  Ours: ``greedy_labels`` fp32 and bf16; HF ``generate`` (warmed up) fp32, bf16 autocast and
  bf16 weights. The fp32 rows must agree token for token.

Timing: every configuration is warmed up first (excluded), then measured in interleaved rounds
(ours, HF, ours, HF, ...) so that load from other processes hits both sides alike; each row
reports the median over rounds. Each side's ratio uses its fastest precision.

Process settings, the same for both sides: the thread count (``--threads``; by default whichever
of 1 and all cores runs a bf16 matmul faster right now - on a shared machine a busy core makes
two threads slower than one) and glibc malloc kept from returning memory to the OS
(``MALLOC_*_`` variables; the script re-executes itself with them unless ``--plain-malloc``):
without them every large temporary tensor is a fresh mmap whose page faults cost more than the
arithmetic (measured: SiLU*mul on 256x37x1536 fp32, 54 ms vs 8 ms).

MFU = the model FLOPs a training step needs / the bf16 matmul rate measured in the same run
(a 2048^3 product, timed in every round). Model FLOPs: 6 per weight per token for the matmul
weights at every non-pad input token - except the last MLP and the head, which our answer-only
loss needs only at the scored positions - plus causal attention, 6 C T^2 per layer and sequence.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_baseline import build_hf, check_same_logits, hf_answer_loss, hf_greedy

from selfimprove.data import IGNORE, BatchPlan, build_token_set
from selfimprove.generate import autocast, greedy_labels
from selfimprove.model import ModelConfig, Transformer
from selfimprove.tasks import get_task
from selfimprove.tokenizer import Tokenizer
from selfimprove.train import TrainConfig, make_optimizer, train_steps

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "100000000000", "MALLOC_TOP_PAD_": "1000000000"}
CPU = torch.device("cpu")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds and steps (a smoke run, noisy)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = the faster of 1 and all cores")
    ap.add_argument("--plain-malloc", action="store_true", help="keep glibc malloc's default settings")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def matmul_rate(n: int = 2048, reps: int = 3) -> float:
    """bf16 GFLOP/s of an n^3 matrix product (best of ``reps`` after one warm-up)."""
    a, b = torch.randn(n, n, dtype=torch.bfloat16), torch.randn(n, n, dtype=torch.bfloat16)
    a @ b
    best = min(timed(lambda: a @ b)[1] for _ in range(reps))
    return 2 * n**3 / best / 1e9


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def choose_threads(requested: int) -> tuple[int, dict[int, float]]:
    cores = os.cpu_count() or 1
    if requested:
        torch.set_num_threads(requested)
        return requested, {}
    rates = {}
    for n in sorted({1, cores}):
        torch.set_num_threads(n)
        rates[n] = matmul_rate(reps=3)
    best = max(rates, key=rates.get)
    torch.set_num_threads(best)
    return best, rates


# ----------------------------------------------------------------------------- workload


def round0_sets(tok: Tokenizer, n: int, seed: int):
    task = get_task("reverse_addition")
    rng = random.Random(seed)
    problems = [task.sample_initial(1, 16, rng) for _ in range(n)]
    return [build_token_set(tok, [(task.prompt(p), task.solve(p)) for p in problems], levels=16)]


def label_prompts(tok: Tokenizer, n: int, seed: int) -> tuple[list[list[int]], int]:
    task = get_task("reverse_addition")
    rng = random.Random(seed)
    prompts = [[tok.bos_id] + tok.encode(task.prompt(task.sample(17, rng))) for _ in range(n)]
    return prompts, task.max_answer_len(17)


def step_flops(cfg: ModelConfig, x: torch.Tensor, y: torch.Tensor, pad_id: int, answer_only: bool) -> float:
    """Model FLOPs of one training step on batch (x, y): see the module docstring."""
    C, F_, L, V = cfg.n_embd, cfg.mlp_hidden, cfg.n_layer, cfg.vocab_size
    tokens = int((x != pad_id).sum())
    scored = int((y != IGNORE).sum())
    lengths = (x != pad_id).sum(1).double()
    last = 3 * C * F_ + C * V  # weights of the last MLP and the head
    body = L * (4 * C * C + 3 * C * F_) + C * V - last
    matmul = 6 * (body * tokens + last * (scored if answer_only else tokens))
    attention = 6 * C * L * float((lengths**2).sum())
    return matmul + attention


# ----------------------------------------------------------------------------- training


class OursTrainer:
    """Our real loop (``train_steps``) on our bucketed batch stream."""

    def __init__(self, model, precision, sets, pad_id, seed):
        self.model, self.pad_id, self.sets = model, pad_id, sets
        # bucket=8 is the throughput option (the default, 1, pads like the baseline).
        self.cfg = TrainConfig(steps=10**6, batch_size=128, precision=precision, checkpoint_every=10**6, bucket=8)
        self.opt = make_optimizer(model, self.cfg)
        self.plan = BatchPlan(seed=seed, round=0, batch_size=128, bucket=self.cfg.bucket)
        self.step = 0

    def batch(self, step):
        return self.plan.batch(self.sets, step, self.pad_id)

    def run(self, n: int):
        batches = {s: self.batch(s) for s in range(self.step, self.step + n)}
        cfg = TrainConfig(**{**self.cfg.to_dict(), "steps": self.step + n})
        _, dt = timed(lambda: train_steps(self.model, self.opt, cfg, batches.__getitem__, start=self.step))
        self.step += n
        return list(batches.values()), dt


class HFTrainer:
    """The same loop by hand on HF's forward; batches padded to their longest row (bucket=1)."""

    def __init__(self, hf, precision, sets, pad_id, seed):
        self.hf, self.precision, self.pad_id, self.sets = hf, precision, pad_id, sets
        self.cfg = TrainConfig(steps=10**6, batch_size=128, precision=precision)
        self.opt = make_optimizer(hf, self.cfg)
        self.plan = BatchPlan(seed=seed, round=0, batch_size=128, bucket=1)
        self.step = 0

    def run(self, n: int):
        batches = [self.plan.batch(self.sets, s, self.pad_id) for s in range(self.step, self.step + n)]

        def loop():
            self.hf.train()
            for x, y in batches:
                with autocast(CPU, self.precision):
                    loss = hf_answer_loss(self.hf, x, y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.hf.parameters(), self.cfg.grad_clip)
                self.opt.step()
                self.opt.zero_grad(set_to_none=True)
                loss.item()

        _, dt = timed(loop)
        self.step += n
        return batches, dt


def bench_training(model, tok, sets, args, mm_rates):
    rounds, steps = (2, 1) if args.quick else (4, 4)
    rounds32, steps32 = (1, 1) if args.quick else (3, 1)
    sides = {
        ("ours", "bf16"): OursTrainer(copy.deepcopy(model), "bf16", sets, tok.pad_id, args.seed),
        ("HF", "bf16"): HFTrainer(build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id), "bf16", sets, tok.pad_id, args.seed),
        ("ours", "fp32"): OursTrainer(copy.deepcopy(model), "fp32", sets, tok.pad_id, args.seed),
        ("HF", "fp32"): HFTrainer(build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id), "fp32", sets, tok.pad_id, args.seed),
    }
    stats = {key: {"rates": [], "useful": 0, "tokens": 0, "padded": 0, "flops": [], "secs": 0.0} for key in sides}
    for key, side in sides.items():  # warm-up: one step each, not timed
        side.run(1)
    plan = [(k, rounds, steps) for k in sides if k[1] == "bf16"] + [(k, rounds32, steps32) for k in sides if k[1] == "fp32"]
    for r in range(max(rounds, rounds32)):
        mm_rates.append(matmul_rate(reps=2))
        for key, n_rounds, n_steps in plan:
            if r >= n_rounds:
                continue
            batches, dt = sides[key].run(n_steps)
            st = stats[key]
            useful = sum(int((y != IGNORE).sum()) for _, y in batches)
            st["rates"].append(useful / dt)
            st["useful"] += useful
            st["tokens"] += sum(int((x != tok.pad_id).sum()) for x, _ in batches)
            st["padded"] += sum(x.numel() for x, _ in batches)
            flops = sum(step_flops(model.cfg, x, y, tok.pad_id, key[0] == "ours") for x, y in batches)
            st["flops"].append(flops / dt / 1e9)
            st["secs"] += dt
            print(f"  train round {r + 1}: {key[0]:4s} {key[1]}  {useful / dt:8.0f} useful tok/s  ({n_steps} steps, {dt:.1f} s)", flush=True)
    return stats


# ----------------------------------------------------------------------------- labelling


def bench_labelling(model, tok, args):
    prompts, limit = label_prompts(tok, 256, args.seed + 1)
    never = -1  # an EOS id no token has: decoding runs to the bound, exactly `limit` tokens
    ours32 = copy.deepcopy(model).eval()
    hf32 = build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id).eval()
    hf16 = build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id).eval().to(torch.bfloat16)

    def ours(precision):
        return lambda: greedy_labels(ours32, prompts, [limit] * len(prompts), never, tok.pad_id, 256, precision)

    def hf(m, use_autocast=False):
        def run():
            with autocast(CPU, "bf16" if use_autocast else "fp32"):
                return hf_greedy(m, prompts, limit, tok.pad_id, None)
        return run

    sides = {
        ("ours", "bf16"): ours("bf16"),
        ("HF", "bf16 weights"): hf(hf16),
        ("HF", "bf16 autocast"): hf(hf32, use_autocast=True),
        ("ours", "fp32"): ours("fp32"),
        ("HF", "fp32"): hf(hf32),
    }
    rounds = 1 if args.quick else 3
    stats = {key: {"rates": [], "outputs": None} for key in sides}
    for fn in sides.values():  # warm-up at the measured shape
        fn()
    for r in range(rounds):
        for key, fn in sides.items():
            out, dt = timed(fn)
            assert all(len(o) == limit for o in out), f"{key}: not every row decoded {limit} tokens"
            stats[key]["rates"].append(len(prompts) / dt)
            stats[key]["outputs"] = out
            print(f"  label round {r + 1}: {key[0]:4s} {key[1]:14s} {len(prompts) / dt:7.1f} problems/s ({dt:.2f} s)", flush=True)
    tokens = len(prompts) * (len(prompts[0]) + limit)
    return stats, tokens


# ----------------------------------------------------------------------------- report


def best(stats, side):
    rows = {k: statistics.median(v["rates"]) for k, v in stats.items() if k[0] == side}
    key = max(rows, key=rows.get)
    return key, rows[key]


def main() -> None:
    args = parse_args()
    if not args.plain_malloc and any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})
    torch.manual_seed(args.seed)
    threads, thread_rates = choose_threads(args.threads)
    import transformers

    task = get_task("reverse_addition")
    tok = Tokenizer.for_task(task)
    cfg = ModelConfig(vocab_size=len(tok))
    model = Transformer(cfg)
    sets = round0_sets(tok, 8192, args.seed)

    # The baseline must be the same function before any timing means anything.
    x, _ = BatchPlan(seed=args.seed, round=0, batch_size=16, bucket=1).batch(sets, 0, tok.pad_id)
    diff = check_same_logits(model, build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id), x)

    print(f"threads {threads}" + (f" (bf16 matmul GFLOP/s by threads: {thread_rates})" if thread_rates else ""), flush=True)
    print(f"HF NoPE model = ours: max |logit difference| {diff:.1e} in fp32 on a {tuple(x.shape)} batch", flush=True)
    mm_rates: list[float] = []
    t0 = time.perf_counter()
    train = bench_training(model, tok, sets, args, mm_rates)
    label, label_tokens = bench_labelling(model, tok, args)
    mm_rates.append(matmul_rate(reps=2))
    wall = time.perf_counter() - t0

    mm = statistics.median(mm_rates)
    (_, ours_tp), ours_train = best(train, "ours")
    (_, hf_tp), hf_train = best(train, "HF")
    (_, ours_lp), ours_label = best(label, "ours")
    (_, hf_lp), hf_label = best(label, "HF")
    ours_key = ("ours", ours_tp)
    mfu = statistics.median(train[ours_key]["flops"]) / mm
    identical = label[("ours", "fp32")]["outputs"] == label[("HF", "fp32")]["outputs"]
    same_rows = sum(a == b for a, b in zip(label[("ours", "fp32")]["outputs"], label[("HF", "fp32")]["outputs"]))
    n_rows = len(label[("ours", "fp32")]["outputs"])

    print()
    print(f"paper 14M config ({cfg.n_layer} layers, {cfg.n_head} heads, width {cfg.n_embd}, MLP {cfg.mlp_hidden}), "
          f"{model.num_params() / 1e6:.2f}M parameters; torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{platform.processor() or platform.machine()}, {threads} thread(s), "
          f"malloc {'default' if args.plain_malloc else 'tuned'}; bf16 matmul {mm:.0f} GFLOP/s (median of {len(mm_rates)})")
    print()
    print("training: round-0 reverse addition, operand lengths 1-16, batch 128; useful = answer+EOS tokens")
    print(f"  {'side':5s} {'precision':10s} {'batching':22s} {'useful tok/s':>12s} {'rounds':>22s} {'non-pad':>8s} {'GFLOP/s':>8s} {'MFU':>5s}")
    for (side, prec), st in train.items():
        batching = "bucketed (bucket=8)" if side == "ours" else "padded to longest row"
        rounds = " ".join(f"{v:.0f}" for v in st["rates"])
        gf = statistics.median(st["flops"])
        print(f"  {side:5s} {prec:10s} {batching:22s} {statistics.median(st['rates']):12.0f} {rounds:>22s} "
              f"{st['tokens'] / st['padded']:8.1%} {gf:8.0f} {gf / mm:5.0%}")
    print(f"  ratio ours {ours_tp} / HF {hf_tp} = {ours_train / hf_train:.2f}x; fp32 / fp32 = "
          f"{statistics.median(train[('ours', 'fp32')]['rates']) / statistics.median(train[('HF', 'fp32')]['rates']):.2f}x")
    print()
    print(f"labelling: {n_rows} prompts of 17-digit reverse addition in one batch, greedy, 18 tokens each")
    print(f"  {'side':5s} {'setting':14s} {'problems/s':>10s} {'rounds':>18s} {'GFLOP/s':>8s}")
    n_matmul = model.num_params() - model.embed.weight.numel()
    for (side, setting), st in label.items():
        med = statistics.median(st["rates"])
        rounds = " ".join(f"{v:.0f}" for v in st["rates"])
        gf = 2 * n_matmul * label_tokens / (n_rows / med) / 1e9
        print(f"  {side:5s} {setting:14s} {med:10.1f} {rounds:>18s} {gf:8.0f}")
    print(f"  ratio ours {ours_lp} / HF {hf_lp} = {ours_label / hf_label:.2f}x; fp32 / fp32 = "
          f"{statistics.median(label[('ours', 'fp32')]['rates']) / statistics.median(label[('HF', 'fp32')]['rates']):.2f}x; "
          f"fp32 outputs identical: {same_rows}/{n_rows} rows")
    print()
    print(f"benchmark wall time {wall:.0f} s")
    print(f"RESULT train_ratio={ours_train / hf_train:.2f} generate_ratio={ours_label / hf_label:.2f} "
          f"train_mfu={mfu:.2f} outputs_identical={'true' if identical else 'false'}")


if __name__ == "__main__":
    main()
