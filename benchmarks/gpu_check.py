"""A prepared check for one CUDA GPU, in under 8 minutes: does the paper's setting run, and how fast.

Run: ``.venv/bin/python benchmarks/gpu_check.py [--out DIR]`` (or ``benchmarks/gpu_check.sh``) on
a machine with one CUDA GPU and a CUDA build of torch. Four steps, each timed and bounded:

1. **training** - the paper's 14M config, bf16 autocast (attention: SDPA with ``is_causal``, the
   flash path), batch 1024 of the round-0 stream (1-16 digit reverse addition): useful tokens/s
   and MFU against the bf16 matmul rate measured on this GPU (an 8192^3 product).
2. **labelling** - greedy answers of 1,024 100-digit problems (101 tokens each, forced to the
   bound as in ``throughput.py``), bf16 and fp32: problems/s.
3. **a toy round of a paper preset** - ``configs/paper/reverse_addition.yaml`` shrunk by
   ``TOY_OVERRIDES`` (same model and schedule, a few hundred steps and problems): round 0 plus one
   self-improvement round through ``selfimprove run``, on the GPU.
4. **torchrun with 1 process** - the smoke config under ``torch.distributed.run --nproc_per_node=1``.
5. **k = 5 vote models stacked** - five models of the paper's 14M shape trained (batch 128 each) and
   labelling 256 prompts as one stacked model vs one after another (``stacked.bench_stacked``):
   the time ratios, and a toy round of ``configs/paper/maze_hops_majority.yaml`` (k = 5, majority
   vote; ``scale=tiny``) on the GPU, where ``rounds.stacked: auto`` stacks them.

It ends with a summary and ``GPU_CHECK ok`` or ``GPU_CHECK failed: STEPS``. Without CUDA it stops at
once with a one-line ``error:`` (exit 2): nothing here is meaningful on a CPU.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

PRESET = ROOT / "configs" / "paper" / "reverse_addition.yaml"
SMOKE = ROOT / "configs" / "smoke.yaml"
# The preset as it is, but minutes instead of days: round 0 of 300 steps at batch 256 on 20,000
# problems, then one round labelling 1,024 17-digit problems (the increment schedule) for 100 steps.
TOY_OVERRIDES = [
    "device=cuda", "round0.examples=20000", "round0.train.steps=300", "round0.train.batch_size=256",
    "round0.train.warmup_steps=50", "round0.train.decay_steps=100", "round0.train.checkpoint_every=300",
    "rounds.count=1", "rounds.problems=1024", "rounds.train.steps=100", "rounds.train.batch_size=256",
    "rounds.train.decay_steps=100", "rounds.train.checkpoint_every=100", "eval.n=64", "eval.ahead=4",
]
VOTE_PRESET = ROOT / "configs" / "paper" / "maze_hops_majority.yaml"
STEP_TIMEOUT_S = {"round": 240, "torchrun": 120, "vote round": 120}  # the subprocess steps; the rest is seconds


def cuda_missing_reason() -> str | None:
    """Why this machine cannot run the check, or None when it can."""
    import torch

    if not torch.cuda.is_available():
        build = f"torch {torch.__version__}" + (" (a CPU-only build)" if torch.version.cuda is None else "")
        return f"error: benchmarks/gpu_check.py needs a CUDA GPU, and {build} sees none; run it on a GPU machine"
    return None


def run_command(command: list[str], timeout: int) -> tuple[bool, float, str]:
    """Run a subprocess step; (ok, seconds, the tail of its output)."""
    t = time.perf_counter()
    try:
        done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        ok, text = done.returncode == 0, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        ok, text = False, f"timed out after {timeout} s\n{exc.stdout or ''}{exc.stderr or ''}"
    return ok, time.perf_counter() - t, text[-2000:]


def round_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "selfimprove.cli", "run", str(PRESET), *TOY_OVERRIDES, "--out", str(out / "toy_round")]


def torchrun_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
            "-m", "selfimprove.cli", "run", str(SMOKE), "device=cuda", "--out", str(out / "torchrun")]


def vote_round_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "selfimprove.cli", "run", str(VOTE_PRESET), "scale=tiny", "device=cuda",
            "--out", str(out / "vote")]


def bf16_matmul_rate(n: int = 8192, reps: int = 5) -> float:
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    a @ b
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def check_training(steps: int = 30) -> dict:
    import torch
    from workload import round0_sets, step_flops

    from selfimprove.data import IGNORE, BatchPlan
    from selfimprove.model import ModelConfig, Transformer
    from selfimprove.tasks import get_task
    from selfimprove.tokenizer import Tokenizer
    from selfimprove.train import TrainConfig, make_optimizer, train_steps

    tok = Tokenizer.for_task(get_task("reverse_addition"))
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=len(tok))).cuda()
    cfg = TrainConfig(steps=10**6, batch_size=1024, precision="bf16", checkpoint_every=10**6)
    opt = make_optimizer(model, cfg)
    sets = round0_sets(tok, 50_000, 0)
    plan = BatchPlan(seed=0, round=0, batch_size=1024)
    warm = 5
    batches = {s: plan.batch(sets, s, tok.pad_id) for s in range(warm + steps)}
    train_steps(model, opt, TrainConfig(**{**cfg.to_dict(), "steps": warm}), batches.__getitem__)
    torch.cuda.synchronize()
    t = time.perf_counter()
    train_steps(model, opt, TrainConfig(**{**cfg.to_dict(), "steps": warm + steps}), batches.__getitem__, start=warm)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t
    timed = [batches[s] for s in range(warm, warm + steps)]
    useful = sum(int((y != IGNORE).sum()) for _, y in timed)
    flops = sum(step_flops(model.cfg, x, y, tok.pad_id, answer_only=True) for x, y in timed)
    peak = bf16_matmul_rate()
    return {"useful_tok_s": useful / dt, "model_gflop_s": flops / dt / 1e9, "bf16_matmul_gflop_s": peak,
            "mfu": flops / dt / 1e9 / peak, "steps": steps, "seconds": dt}


def check_labelling(n: int = 1024, digits: int = 100) -> dict:
    import random

    import torch

    from selfimprove.generate import Decoding, greedy_labels
    from selfimprove.model import ModelConfig, Transformer
    from selfimprove.tasks import get_task
    from selfimprove.tokenizer import Tokenizer

    task = get_task("reverse_addition")
    tok = Tokenizer.for_task(task)
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=len(tok))).cuda().eval()
    rng = random.Random(0)
    prompts = [[tok.bos_id] + tok.encode(task.prompt(task.sample(digits, rng))) for _ in range(n)]
    limit = task.max_answer_len(digits)
    out = {}
    for precision in ("bf16", "fp32"):
        greedy_labels(model, prompts[:64], [limit] * 64, -1, tok.pad_id, Decoding(1024, precision))  # warm-up
        torch.cuda.synchronize()
        t = time.perf_counter()
        answers = greedy_labels(model, prompts, [limit] * n, -1, tok.pad_id, Decoding(1024, precision))
        torch.cuda.synchronize()
        dt = time.perf_counter() - t
        assert all(len(a) == limit for a in answers), "not every row decoded to its bound"
        out[f"{precision}_problems_s"] = n / dt
    out["tokens_per_answer"] = limit
    return out


def check_stacked(k: int = 5) -> dict:
    import torch
    from stacked import bench_stacked

    from selfimprove.model import ModelConfig
    from selfimprove.tasks import get_task
    from selfimprove.tokenizer import Tokenizer

    tok = Tokenizer.for_task(get_task("reverse_addition"))

    def clock() -> float:
        torch.cuda.synchronize()
        return time.perf_counter()

    return bench_stacked(ModelConfig(vocab_size=len(tok)), tok, k=k, precision="bf16", rounds=2, steps=10, prompts=256,
                         seed=0, clock=clock, device="cuda")


def summary_lines(results: dict[str, dict]) -> list[str]:
    """The closing summary: one line per step, then the verdict."""
    lines = ["summary:"]
    for step, result in results.items():
        if "error" in result:
            lines.append(f"  {step:10s} FAILED: {result['error'].splitlines()[-1] if result['error'] else 'no output'}")
            continue
        figures = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items())
        lines.append(f"  {step:10s} ok: {figures}")
    failed = [step for step, result in results.items() if "error" in result]
    lines.append("GPU_CHECK ok" if not failed else f"GPU_CHECK failed: {', '.join(failed)}")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="where the toy runs go (default: a temporary folder)")
    args = ap.parse_args(argv)
    reason = cuda_missing_reason()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    import torch

    out = args.out or Path(tempfile.mkdtemp(prefix="gpu_check_"))
    props = torch.cuda.get_device_properties(0)
    print(f"device: {props.name}, {props.total_memory / 2**30:.0f} GiB, bf16 {torch.cuda.is_bf16_supported()}; "
          f"torch {torch.__version__}, CUDA {torch.version.cuda}; runs in {out}", flush=True)
    results: dict[str, dict] = {}
    t0 = time.perf_counter()
    for name, fn in (("training", check_training), ("labelling", check_labelling), ("stacked", check_stacked)):
        try:
            results[name] = fn()
        except Exception as exc:  # noqa: BLE001 - a failed step is reported, and the others still run
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"{name}: {results[name]}", flush=True)
    for name, command in (("round", round_command(out)), ("torchrun", torchrun_command(out)),
                          ("vote round", vote_round_command(out))):
        ok, dt, tail = run_command(command, STEP_TIMEOUT_S[name])
        results[name] = {"seconds": dt} if ok else {"error": tail}
        print(f"{name}: {'ok' if ok else 'FAILED'} in {dt:.0f} s\n{tail}", flush=True)
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    print("\n".join(summary_lines(results)))
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
