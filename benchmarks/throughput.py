"""Throughput of our training loop and labelling against Hugging Face Llama (true NoPE), same weights.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/throughput.py [--quick | --tiny] [--threads N] [--cpu-clock]``;
on a shared machine ``--threads 1 --cpu-clock`` times each side by the CPU time it used).

It first names the hardware: the CPU, its AVX-512 BF16 / AMX / AVX2 flags and the fp32 and bf16
matmul rates measured in this run. Where bf16 runs at a small fraction of fp32 (no native bf16:
torch emulates it, 0.34 against 120-139 GFLOP/s on an AVX2 EPYC) every bf16 row is skipped, and
the header says so. Then three tables, each side by side in one run:

1. the paper's 14M config (6 layers, 6 heads, width 384, MLP 1536), training and labelling;
2. the demo's model (the ``model:`` of ``configs/demo.yaml``), the same two measurements;
3. k = 5 vote models of the demo's shape, trained and labelling as one stacked model
   (``selfimprove.ensemble``) against five separate ones (``stacked_ratio`` = stacked time /
   separate time, same steps and prompts).

What is compared in tables 1 and 2:

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
of 1 and all cores runs a matmul of the fastest precision faster right now - on a shared machine a busy core makes
two threads slower than one) and glibc malloc kept from returning memory to the OS
(``MALLOC_*_`` variables; the script re-executes itself with them unless ``--plain-malloc``):
without them every large temporary tensor is a fresh mmap whose page faults cost more than the
arithmetic (measured: SiLU*mul on 256x37x1536 fp32, 54 ms vs 8 ms).

MFU = the model FLOPs a training step needs / the matmul rate, measured in the same run, of the
precision that step ran in (a 1024^3 product, timed in every round). Model FLOPs: 6 per weight per token for the matmul
weights at every non-pad input token - except the last MLP and the head, which our answer-only
loss needs only at the scored positions - plus causal attention, 6 C T^2 per layer and sequence.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_baseline import build_hf, check_same_logits, hf_answer_loss, hf_greedy
from stacked import bench_stacked
from workload import label_prompts, round0_sets, step_flops

from selfimprove import hardware
from selfimprove.config import load_config
from selfimprove.data import IGNORE, BatchPlan
from selfimprove.generate import Decoding, autocast, greedy_labels
from selfimprove.model import ModelConfig, Transformer
from selfimprove.tasks import get_task
from selfimprove.tokenizer import Tokenizer
from selfimprove.train import TrainConfig, make_optimizer, train_steps

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "100000000000", "MALLOC_TOP_PAD_": "1000000000"}
CPU = torch.device("cpu")
DEMO = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"
TINY_MODEL = {"n_layer": 2, "n_head": 2, "n_embd": 32, "mlp_hidden": 64}
RESULT_KEYS = ("train_ratio", "generate_ratio", "mfu", "stacked_ratio", "demo_train_ratio", "demo_generate_ratio",
               "outputs_identical")


@dataclass(frozen=True)
class Sizes:
    """How much work each table does: rounds x steps of training, rounds of labelling, prompts."""

    train_rounds: int
    train_steps: int
    fp32_rounds: int
    fp32_steps: int
    label_rounds: int
    prompts: int
    examples: int


FULL = Sizes(train_rounds=4, train_steps=4, fp32_rounds=3, fp32_steps=1, label_rounds=3, prompts=256, examples=8192)
QUICK = Sizes(train_rounds=2, train_steps=1, fp32_rounds=1, fp32_steps=1, label_rounds=1, prompts=256, examples=8192)
TINY = Sizes(train_rounds=1, train_steps=1, fp32_rounds=1, fp32_steps=1, label_rounds=1, prompts=16, examples=256)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds and steps (a smoke run, noisy)")
    ap.add_argument("--tiny", action="store_true", help="tiny models and a few prompts: checks the script runs (figures meaningless)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads; 0 = the faster of 1 and all cores")
    ap.add_argument("--plain-malloc", action="store_true", help="keep glibc malloc's default settings")
    ap.add_argument("--cpu-clock", action="store_true",
                    help="time by this process's CPU time, not wall time: with --threads 1 on a shared machine, what "
                         "the work costs on a free core (time spent waiting for the core is not counted)")
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args(argv)


def matmul_rate(precision: str, n: int = 1024) -> float:
    """GFLOP/s of an n^3 product in ``precision``, for MFU (larger than hardware's quick probe)."""
    return hardware.measure_rate(torch.bfloat16 if precision == "bf16" else torch.float32, n=n, reps=2)


def timed(fn, clock=time.perf_counter):
    t = clock()
    out = fn()
    return out, clock() - t


def choose_threads(requested: int, precision: str) -> tuple[int, dict[int, float]]:
    cores = os.cpu_count() or 1
    if requested:
        torch.set_num_threads(requested)
        return requested, {}
    rates = {}
    for n in sorted({1, cores}):
        torch.set_num_threads(n)
        rates[n] = matmul_rate(precision, n=512)
    best = max(rates, key=rates.get)
    torch.set_num_threads(best)
    return best, rates


# ----------------------------------------------------------------------------- training


class OursTrainer:
    """Our real loop (``train_steps``) on our bucketed batch stream."""

    def __init__(self, model, precision, sets, pad_id, seed, clock):
        self.model, self.pad_id, self.sets, self.clock = model, pad_id, sets, clock
        # bucket=8 is the throughput option (the default, 1, pads like the baseline).
        self.cfg = TrainConfig(steps=10**6, batch_size=128, precision=precision, checkpoint_every=10**6, bucket=8)
        self.opt = make_optimizer(model, self.cfg)
        self.plan = BatchPlan(seed=seed, round=0, batch_size=128, bucket=self.cfg.bucket)
        self.step = 0

    def run(self, n: int):
        batches = {s: self.plan.batch(self.sets, s, self.pad_id) for s in range(self.step, self.step + n)}
        cfg = TrainConfig(**{**self.cfg.to_dict(), "steps": self.step + n})
        _, dt = timed(lambda: train_steps(self.model, self.opt, cfg, batches.__getitem__, start=self.step), self.clock)
        self.step += n
        return list(batches.values()), dt


class HFTrainer:
    """The same loop by hand on HF's forward; batches padded to their longest row (bucket=1)."""

    def __init__(self, hf, precision, sets, pad_id, seed, clock):
        self.hf, self.precision, self.pad_id, self.sets, self.clock = hf, precision, pad_id, sets, clock
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

        _, dt = timed(loop, self.clock)
        self.step += n
        return batches, dt


def bench_training(model, tok, sets, sizes: Sizes, precisions, seed, mm_rates, label, clock):
    """Interleaved training rounds of ours and HF in each precision; ``mm_rates[p]`` gets the
    matmul rate of precision p measured in every round (for MFU under the same load)."""
    sides = {}
    for precision in precisions:
        sides[("ours", precision)] = OursTrainer(copy.deepcopy(model), precision, sets, tok.pad_id, seed, clock)
        sides[("HF", precision)] = HFTrainer(build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id), precision, sets, tok.pad_id,
                                             seed, clock)
    stats = {key: {"rates": [], "useful": 0, "tokens": 0, "padded": 0, "flops": [], "secs": 0.0} for key in sides}
    for side in sides.values():  # warm-up: one step each, not timed
        side.run(1)
    work = {"bf16": (sizes.train_rounds, sizes.train_steps), "fp32": (sizes.fp32_rounds, sizes.fp32_steps)}
    for r in range(max(work[p][0] for p in precisions)):
        for precision in precisions:
            mm_rates[precision].append(matmul_rate(precision))
        for key, side in sides.items():
            n_rounds, n_steps = work[key[1]]
            if r >= n_rounds:
                continue
            batches, dt = side.run(n_steps)
            st = stats[key]
            useful = sum(int((y != IGNORE).sum()) for _, y in batches)
            st["rates"].append(useful / dt)
            st["useful"] += useful
            st["tokens"] += sum(int((x != tok.pad_id).sum()) for x, _ in batches)
            st["padded"] += sum(x.numel() for x, _ in batches)
            flops = sum(step_flops(model.cfg, x, y, tok.pad_id, key[0] == "ours") for x, y in batches)
            st["flops"].append(flops / dt / 1e9)
            st["secs"] += dt
            print(f"  {label} train round {r + 1}: {key[0]:4s} {key[1]}  {useful / dt:8.0f} useful tok/s  "
                  f"({n_steps} steps, {dt:.1f} s)", flush=True)
    return stats


# ----------------------------------------------------------------------------- labelling


def bench_labelling(model, tok, sizes: Sizes, precisions, seed, label, clock=time.perf_counter):
    prompts, limit = label_prompts(tok, sizes.prompts, seed + 1)
    never = -1  # an EOS id no token has: decoding runs to the bound, exactly `limit` tokens
    ours32 = copy.deepcopy(model).eval()
    hf32 = build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id).eval()

    def ours(precision):
        return lambda: greedy_labels(ours32, prompts, [limit] * len(prompts), never, tok.pad_id, Decoding(256, precision))

    def hf(m, use_autocast=False):
        def run():
            with autocast(CPU, "bf16" if use_autocast else "fp32"):
                return hf_greedy(m, prompts, limit, tok.pad_id, None)
        return run

    sides = {}
    if "bf16" in precisions:
        hf16 = build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id).eval().to(torch.bfloat16)
        sides.update({("ours", "bf16"): ours("bf16"), ("HF", "bf16 weights"): hf(hf16), ("HF", "bf16 autocast"): hf(hf32, use_autocast=True)})
    sides.update({("ours", "fp32"): ours("fp32"), ("HF", "fp32"): hf(hf32)})
    stats = {key: {"rates": [], "outputs": None} for key in sides}
    for fn in sides.values():  # warm-up at the measured shape
        fn()
    for r in range(sizes.label_rounds):
        for key, fn in sides.items():
            out, dt = timed(fn, clock)
            assert all(len(o) == limit for o in out), f"{key}: not every row decoded {limit} tokens"
            stats[key]["rates"].append(len(prompts) / dt)
            stats[key]["outputs"] = out
            print(f"  {label} label round {r + 1}: {key[0]:4s} {key[1]:14s} {len(prompts) / dt:7.1f} problems/s ({dt:.2f} s)", flush=True)
    tokens = len(prompts) * (len(prompts[0]) + limit)
    return stats, tokens


# ----------------------------------------------------------------------------- report


def best(stats, side):
    rows = {k: statistics.median(v["rates"]) for k, v in stats.items() if k[0] == side}
    key = max(rows, key=rows.get)
    return key, rows[key]


def ratio(stats, a, b) -> float:
    return statistics.median(stats[a]["rates"]) / statistics.median(stats[b]["rates"])


def measure_model(name, model, tok, sizes, precisions, seed, clock) -> dict:
    """Both tables of one model (training, labelling) and its figures for the RESULT line."""
    sets = round0_sets(tok, sizes.examples, seed)
    # The baseline must be the same function before any timing means anything.
    x, _ = BatchPlan(seed=seed, round=0, batch_size=16, bucket=1).batch(sets, 0, tok.pad_id)
    diff = check_same_logits(model, build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id), x)
    cfg = model.cfg
    title = (f"{name} ({cfg.n_layer} layers, {cfg.n_head} heads, width {cfg.n_embd}, MLP {cfg.mlp_hidden}), "
             f"{model.num_params() / 1e6:.2f}M parameters")
    print(f"{title}: HF NoPE model = ours, max |logit difference| {diff:.1e} in fp32 on a {tuple(x.shape)} batch", flush=True)
    mm_rates: dict[str, list[float]] = {p: [] for p in precisions}
    train = bench_training(model, tok, sets, sizes, precisions, seed, mm_rates, name, clock)
    label, label_tokens = bench_labelling(model, tok, sizes, precisions, seed, name, clock)
    mm = {p: statistics.median(v) for p, v in mm_rates.items()}
    return {"title": title, "train": train, "label": label, "label_tokens": label_tokens, "mm": mm, "model": model}


def print_tables(m: dict, pad_id: int) -> dict:
    train, label, mm, model = m["train"], m["label"], m["mm"], m["model"]
    (_, ours_tp), ours_train = best(train, "ours")
    (_, hf_tp), hf_train = best(train, "HF")
    (_, ours_lp), ours_label = best(label, "ours")
    (_, hf_lp), hf_label = best(label, "HF")
    mfu = statistics.median(train[("ours", ours_tp)]["flops"]) / mm[ours_tp]
    outs32, hf32 = label[("ours", "fp32")]["outputs"], label[("HF", "fp32")]["outputs"]
    same_rows = sum(a == b for a, b in zip(outs32, hf32))
    print()
    print(m["title"] + "; matmul rates in this table's rounds: " + ", ".join(f"{p} {r:.0f} GFLOP/s" for p, r in mm.items()))
    print("training: round-0 reverse addition, operand lengths 1-16, batch 128; useful = answer+EOS tokens; "
          "MFU against the matmul rate of the row's precision")
    print(f"  {'side':5s} {'precision':10s} {'batching':22s} {'useful tok/s':>12s} {'rounds':>22s} {'non-pad':>8s} {'GFLOP/s':>8s} {'MFU':>5s}")
    for (side, prec), st in train.items():
        batching = "bucketed (bucket=8)" if side == "ours" else "padded to longest row"
        rounds = " ".join(f"{v:.0f}" for v in st["rates"])
        gf = statistics.median(st["flops"])
        print(f"  {side:5s} {prec:10s} {batching:22s} {statistics.median(st['rates']):12.0f} {rounds:>22s} "
              f"{st['tokens'] / st['padded']:8.1%} {gf:8.0f} {gf / mm[prec]:5.0%}")
    print(f"  ratio ours {ours_tp} / HF {hf_tp} = {ours_train / hf_train:.2f}x; fp32 / fp32 = "
          f"{ratio(train, ('ours', 'fp32'), ('HF', 'fp32')):.2f}x")
    n_rows = len(outs32)
    print(f"labelling: {n_rows} prompts of 17-digit reverse addition in one batch, greedy, 18 tokens each")
    print(f"  {'side':5s} {'setting':14s} {'problems/s':>10s} {'rounds':>18s} {'GFLOP/s':>8s}")
    n_matmul = model.num_params() - model.embed.weight.numel()
    for (side, setting), st in label.items():
        med = statistics.median(st["rates"])
        rounds = " ".join(f"{v:.0f}" for v in st["rates"])
        gf = 2 * n_matmul * m["label_tokens"] / (n_rows / med) / 1e9
        print(f"  {side:5s} {setting:14s} {med:10.1f} {rounds:>18s} {gf:8.0f}")
    print(f"  ratio ours {ours_lp} / HF {hf_lp} = {ours_label / hf_label:.2f}x; fp32 / fp32 = "
          f"{ratio(label, ('ours', 'fp32'), ('HF', 'fp32')):.2f}x; fp32 outputs identical: {same_rows}/{n_rows} rows")
    print()
    return {"train_ratio": ours_train / hf_train, "generate_ratio": ours_label / hf_label, "mfu": mfu,
            "identical": same_rows == n_rows}


def result_line(values: dict) -> str:
    """The last line of the run, ``RESULT key=value ...`` with every key of ``RESULT_KEYS``."""
    missing = [k for k in RESULT_KEYS if k not in values]
    if missing:
        raise KeyError(f"RESULT line lacks {missing}")
    fmt = {k: ("true" if v else "false") if isinstance(v, bool) else f"{v:.2f}" for k, v in values.items()}
    return "RESULT " + " ".join(f"{k}={fmt[k]}" for k in RESULT_KEYS)


def precisions_to_run(rates: hardware.MatmulRates) -> tuple[list[str], str | None]:
    """The precisions to measure (fastest first) and, where bf16 is skipped, the line saying why."""
    if not rates.bf16_is_slow:
        return ["bf16", "fp32"], None
    return ["fp32"], (f"bf16 rows skipped: bf16 matmuls run at {rates.bf16 / rates.fp32:.1%} of fp32 here "
                      f"({rates.describe()}; below {hardware.SLOW_BF16_FRACTION:.0%}: no native bf16, torch emulates it)")


def demo_model_shape(tiny: bool) -> dict:
    """The network fields of configs/demo.yaml's model (not its backend or init_from), or the tiny stand-in."""
    return dict(TINY_MODEL) if tiny else load_config(DEMO).model.architecture()


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.plain_malloc and any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})
    sizes = TINY if args.tiny else QUICK if args.quick else FULL
    torch.manual_seed(args.seed)
    rates = hardware.matmul_rates()  # at torch's default threads; the table's own rates follow
    precisions, skipped = precisions_to_run(rates)
    threads, thread_rates = choose_threads(args.threads, precisions[0])
    import transformers

    print(f"hardware: {hardware.describe_cpu()}; {os.cpu_count()} cores, {threads} thread(s)"
          + (f" (matmul GFLOP/s by threads, {precisions[0]}: {', '.join(f'{n}: {r:.0f}' for n, r in thread_rates.items())})"
             if thread_rates else ""))
    print(f"software: torch {torch.__version__}, transformers {transformers.__version__}, "
          f"malloc {'default' if args.plain_malloc else 'tuned'}")
    if skipped:
        print(skipped)
    print(flush=True)

    task = get_task("reverse_addition")
    tok = Tokenizer.for_task(task)
    demo_shape = demo_model_shape(args.tiny)
    paper_shape = TINY_MODEL if args.tiny else {}
    clock = time.process_time if args.cpu_clock else time.perf_counter
    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    paper_name = "tiny stand-in for the paper config" if args.tiny else "paper 14M config"
    paper = measure_model(paper_name, Transformer(ModelConfig(vocab_size=len(tok), **paper_shape)), tok, sizes, precisions,
                          args.seed, clock)
    torch.manual_seed(args.seed)
    demo_cfg = ModelConfig(vocab_size=len(tok), **demo_shape)
    demo_name = "tiny stand-in for the demo model" if args.tiny else "demo model (configs/demo.yaml)"
    demo = measure_model(demo_name, Transformer(demo_cfg), tok, sizes, precisions, args.seed, clock)
    paper_fig = print_tables(paper, tok.pad_id)
    demo_fig = print_tables(demo, tok.pad_id)
    stacked = bench_stacked(demo_cfg, tok, k=5, precision=best(demo["train"], "ours")[0][1],
                            rounds=1 if args.tiny or args.quick else 3, steps=1 if args.tiny else 4,
                            prompts=sizes.prompts, seed=args.seed, clock=clock)["stacked_ratio"]
    wall = time.perf_counter() - t0
    print(f"benchmark wall time {wall:.0f} s; timed by {'CPU time of this process' if args.cpu_clock else 'wall clock'} "
          f"(on a shared machine compare the ratios, measured side by side, not the rates)")
    print(result_line({**paper_fig, "stacked_ratio": stacked, "demo_train_ratio": demo_fig["train_ratio"],
                       "demo_generate_ratio": demo_fig["generate_ratio"],
                       "outputs_identical": paper_fig["identical"] and demo_fig["identical"]}))


if __name__ == "__main__":
    main()
