"""How close labelling can come to 2x HF ``generate`` here: the time of its weight products alone.

Run: ``.venv/bin/python benchmarks/labelling_floor.py [--threads N] [--reps R]`` (about a minute on 2 cores).

Issue 17 asks for labelling at 2x HF ``generate``'s best on ``make bench``'s setting: the paper's 14M
model, 256 prompts of 17-digit reverse addition, 18 answer tokens each. Both decoders do the same
arithmetic - one prefill over every prompt token, then one step per further answer token, each
running every layer's four weight products (qkv, attention output, SwiGLU gate+up, down) - so no
decoder that keeps the model and its greedy answers can do less than those products. This script
times exactly them, at the decoder's shapes, in the precision's own dtype (weights already cast:
no autocast, no attention, no norms, no sampling), and sets that *floor* beside ours and HF's times
measured in the same run. Where the floor is above half of HF's time, 2x HF is out of reach on this
CPU with torch's matmul kernels, whatever the decoding loop does; the figure that would have to move
is the kernels' rate at these shapes (M = 256 rows a step), not the loop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_baseline import build_hf, hf_greedy
from throughput import MALLOC_ENV
from workload import label_prompts

from selfimprove import hardware
from selfimprove.generate import Decoding, autocast, greedy_labels
from selfimprove.model import ModelConfig, Transformer
from selfimprove.tasks import get_task
from selfimprove.tokenizer import Tokenizer

CPU = torch.device("cpu")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def weight_products(model: Transformer, dtype: torch.dtype) -> list[torch.Tensor]:
    """Every layer's weight matrices in decoding order (qkv, proj, gate+up, down), cast once to ``dtype``."""
    weights = []
    for block in model.blocks:
        for linear in (block.attn.qkv, block.attn.proj, block.mlp.gate_up, block.mlp.down):
            weights.append(linear.weight.detach().to(dtype).contiguous())
    return weights


def floor_inputs(weights: list[torch.Tensor], head: torch.Tensor, rows: int, prompt_len: int,
                 dtype: torch.dtype) -> dict[tuple[int, int], torch.Tensor]:
    """One random activation per product shape a decoder meets (values do not change a product's time),
    made before timing so that drawing them is not counted."""
    widths = {w.shape[1] for w in weights} | {head.shape[1]}
    return {(tokens, width): torch.randn(tokens, width, dtype=dtype) for tokens in (rows * prompt_len, rows)
            for width in widths}


def floor_run(weights: list[torch.Tensor], head: torch.Tensor, inputs: dict[tuple[int, int], torch.Tensor],
              rows: int, prompt_len: int, steps: int) -> None:
    """The weight products of a prefill over ``rows x prompt_len`` tokens and ``steps`` one-token steps;
    the head runs at each row's last position only, as a decoder needs."""
    for tokens in [rows * prompt_len] + [rows] * steps:
        for w in weights:
            F.linear(inputs[tokens, w.shape[1]], w)
        F.linear(inputs[rows, head.shape[1]], head)


def floor_flops(weights: list[torch.Tensor], head: torch.Tensor, rows: int, prompt_len: int, steps: int) -> float:
    """Multiply-adds x 2 of ``floor_run``: every weight at every token, the head once per row and step."""
    body = sum(w.numel() for w in weights)
    return 2.0 * (body * rows * (prompt_len + steps) + head.numel() * rows * (steps + 1))


def median_time(fn, reps: int) -> float:
    fn()  # warm-up at the measured shape
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per row (median)")
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):  # make bench's process settings
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})
    if args.threads:
        torch.set_num_threads(args.threads)
    rates = hardware.matmul_rates()
    precisions = ["fp32"] if rates.bf16_is_slow else ["bf16", "fp32"]
    print(f"hardware: {hardware.describe_cpu()}; {torch.get_num_threads()} thread(s)")

    tok = Tokenizer.for_task(get_task("reverse_addition"))
    torch.manual_seed(args.seed)
    model = Transformer(ModelConfig(vocab_size=len(tok))).eval()  # the paper's 14M shape
    prompts, limit = label_prompts(tok, args.prompts, args.seed + 1)
    prompt_len = len(prompts[0])
    never = -1  # no token is EOS: both sides decode exactly `limit` tokens, as make bench does
    hf32 = build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id).eval()
    hf16 = build_hf(model, tok.pad_id, tok.bos_id, tok.eos_id).eval().to(torch.bfloat16)

    def ours(precision):
        return lambda: greedy_labels(model, prompts, [limit] * len(prompts), never, tok.pad_id, Decoding(256, precision))

    def hf(m, precision):
        def run():
            with autocast(CPU, precision):
                return hf_greedy(m, prompts, limit, tok.pad_id, None)
        return run

    head = model.head.weight
    print(f"paper 14M config, {len(prompts)} prompts of {prompt_len} tokens, {limit} answer tokens "
          f"(a prefill, then {limit - 1} one-token steps); median of {args.reps}")
    print(f"{'precision':10s} {'ours s':>8s} {'HF s':>8s} {'floor s':>8s} {'floor/ours':>10s} {'2x HF needs s':>14s} "
          f"{'floor/(HF/2)':>13s} {'floor GFLOP/s':>13s}")
    for precision in precisions:
        dtype = DTYPES[precision]
        weights = weight_products(model, dtype)
        head_w = head.detach().to(dtype).contiguous()
        t_ours = median_time(ours(precision), args.reps)
        t_hf = median_time(hf(hf16 if precision == "bf16" else hf32, "fp32"), args.reps)
        flops = floor_flops(weights, head_w, len(prompts), prompt_len, limit - 1)
        inputs = floor_inputs(weights, head_w, len(prompts), prompt_len, dtype)
        with torch.no_grad():
            t_floor = median_time(partial(floor_run, weights, head_w, inputs, len(prompts), prompt_len, limit - 1),
                                  args.reps)
        print(f"{precision:10s} {t_ours:8.3f} {t_hf:8.3f} {t_floor:8.3f} {t_floor / t_ours:10.2f} {t_hf / 2:14.3f} "
              f"{t_floor / (t_hf / 2):13.2f} {flops / t_floor / 1e9:13.0f}", flush=True)
    print("floor/(HF/2) > 1: the weight products alone take longer than 2x HF allows, so the goal is out of reach "
          "on this CPU whatever the decoding loop does")


if __name__ == "__main__":
    main()
