"""An independent reference for round 0 on reverse addition: its own data, model, loss, optimiser and
decoding, sharing no code with the package, to tell a bug in the pipeline from a property of the
method (docs/EXPERIMENTS.md, S2).

    .venv/bin/python scripts/reference_trainer.py --seed 0 --high 4 --steps 3000

Same shape and settings as the demo's round 0 (4 layers, width 128, 4 heads, SwiGLU 512, NoPE,
RMSNorm, AdamW (0.9, 0.99) eps 1e-12 wd 0.1 on matrices, clip 1.0, warmup-stable-decay), batches of
fresh equal-length sums with mixed lengths. Prints step, minutes, the last batch's loss and exact
accuracy per length (1 .. high + 2) on fresh problems, decoded one at a time without padding.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import torch
import torch.nn.functional as F
from torch import nn

VOCAB = ["<pad>", "<bos>", "<eos>", *"0123456789+="]
ID = {c: i for i, c in enumerate(VOCAB)}
BOS, EOS = 1, 2


def problem(digits: int, rng: random.Random) -> tuple[str, str]:
    a, b = (rng.randint(10 ** (digits - 1), 10**digits - 1) for _ in range(2))
    return f"{str(a)[::-1]}+{str(b)[::-1]}=", str(a + b)[::-1].ljust(digits + 1, "0")


def batch(size: int, high: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [problem(rng.randint(1, high), rng) for _ in range(size)]
    seqs = [[BOS] + [ID[c] for c in p + s] + [EOS] for p, s in rows]
    T = max(map(len, seqs)) - 1
    x, y = torch.zeros(size, T, dtype=torch.long), torch.full((size, T), -100)
    for i, ((p, _), seq) in enumerate(zip(rows, seqs)):
        x[i, : len(seq) - 1] = torch.tensor(seq[:-1])
        y[i, len(p) : len(seq) - 1] = torch.tensor(seq[len(p) + 1 :])  # answer + EOS only
    return x, y


class Block(nn.Module):
    def __init__(self, width: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.RMSNorm(width), nn.RMSNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width, bias=False), nn.Linear(width, width, bias=False)
        self.gate_up, self.down = nn.Linear(width, 2 * hidden, bias=False), nn.Linear(hidden, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.out(y)
        gate, up = self.gate_up(self.norm2(x)).chunk(2, -1)
        return x + self.down(F.silu(gate) * up)


class Model(nn.Module):
    def __init__(self, width: int = 128, heads: int = 4, layers: int = 4, hidden: int = 512) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB), width)
        self.blocks = nn.ModuleList(Block(width, heads, hidden) for _ in range(layers))
        self.norm, self.head = nn.RMSNorm(width), nn.Linear(width, len(VOCAB), bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
        for name, p in self.named_parameters():
            if name.endswith(("out.weight", "down.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


@torch.no_grad()
def accuracy(model: Model, digits: int, n: int, rng: random.Random) -> float:
    model.eval()
    right = 0
    for _ in range(n):
        prompt, answer = problem(digits, rng)
        seq, out = [BOS] + [ID[c] for c in prompt], []
        for _ in range(digits + 3):  # one token past the longest right answer + EOS
            token = int(model(torch.tensor([seq]))[0, -1].argmax())
            if token == EOS:
                break
            out.append(VOCAB[token])
            seq.append(token)
        right += "".join(out) == answer
    model.train()
    return right / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--high", type=int, default=4, help="D0 holds 1..high digits")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--decay", type=int, default=1500)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)  # training problems
    eval_rng = random.Random(f"eval/{args.seed}")  # its own stream: how often we evaluate changes no batch
    model = Model()
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1}, {"params": vectors, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.99), eps=1e-12)

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        into_decay = step - (args.steps - args.decay) + 1
        return args.lr if into_decay <= 0 else args.lr * (1 - 0.99 * into_decay / args.decay)

    started = time.time()
    for step in range(args.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        x, y = batch(args.batch, args.high, rng)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if (step + 1) % args.every == 0:
            accs = [accuracy(model, d, 100, eval_rng) for d in range(1, args.high + 3)]
            print(step + 1, round((time.time() - started) / 60, 2), round(loss.item(), 4), accs, flush=True)


if __name__ == "__main__":
    main()
