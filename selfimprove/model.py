"""A LLaMA-style decoder without positional encoding (NoPE), with a KV cache for decoding.

RMSNorm -> causal self-attention -> residual, RMSNorm -> SwiGLU MLP -> residual; untied input
and output embeddings; no biases. By default the model gets *no* position signal at all: order is
known only through the causal mask (Kazemnejad et al., 2023), which is what lets the paper's
models extrapolate in length. Rotary embeddings are available for comparison (``rope=True``).

Shapes: B batch, T time, C width, H heads, D head width, V vocabulary.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    n_layer: int = 6  # depth: the paper's 14M model has 6
    n_head: int = 6  # attention heads; n_embd must divide evenly
    n_embd: int = 384  # residual width
    mlp_hidden: int = 1536  # SwiGLU hidden width (the paper's 4x)
    rope: bool = False  # False = NoPE, the paper's choice; True only for comparisons
    rope_theta: float = 10_000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for key in ("vocab_size", "n_layer", "n_head", "n_embd", "mlp_hidden"):
            if getattr(self, key) < 1:
                raise ValueError(f"model.{key} must be positive, got {getattr(self, key)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"model.n_embd ({self.n_embd}) must be divisible by model.n_head ({self.n_head})")
        if self.rope and (self.n_embd // self.n_head) % 2:
            raise ValueError("rotary embeddings need an even head width")

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


class KVCache:
    """Preallocated keys/values for every layer; ``length`` is how many positions are filled.

    ``valid`` marks real (non-pad) positions so left-padded prompts of different lengths can
    share one batch: pads are never attended to by real tokens.
    """

    def __init__(self, cfg: ModelConfig, batch: int, max_len: int, device, dtype) -> None:
        shape = (cfg.n_layer, batch, cfg.n_head, max_len, cfg.n_embd // cfg.n_head)
        # Uninitialised: attention reads only the filled positions (``Attention.forward`` slices
        # ``:length``), every one of which a forward pass has written (left pads included), so
        # zero-filling the whole cache (~3% of labelling time at the benchmark's shape) buys nothing.
        self.k = torch.empty(shape, device=device, dtype=dtype)  # (L, B, H, Tmax, D)
        self.v = torch.empty(shape, device=device, dtype=dtype)
        self.valid = torch.zeros(batch, max_len, dtype=torch.bool, device=device)  # (B, Tmax)
        self.length = 0

    def rows(self, start: int, stop: int) -> KVCache:
        """Rows ``start:stop`` as a cache that shares this one's storage (writes land here)."""
        view = copy.copy(self)
        view.k, view.v, view.valid = self.k[:, start:stop], self.v[:, start:stop], self.valid[start:stop]
        return view

    def select(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` of the batch (finished rows leave the batch to save compute)."""
        self.k = self.k[:, rows]
        self.v = self.v[:, rows]
        self.valid = self.valid[rows]


def rotate(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """Rotary embedding of x (B, H, T, D) at integer ``positions`` (B, T)."""
    d = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)  # (D/2,)
    angles = positions.float()[:, None, :, None] * freqs  # (B, 1, T, D/2)
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x.float()[..., 0::2], x.float()[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)
    return out.type_as(x)


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal softmax attention over (B, H, T, D) -> (B, H, T, D).

    On CUDA this is the fused SDPA kernel. On CPU the fused kernel's bf16 backward is ~8x slower
    than three plain ops for our short sequences (measured: 55 ms vs 7 ms at B=128, H=4, T=19),
    and attention backward was half of a training step, so CPU takes the explicit path.
    """
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    T = q.shape[-2]
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    # Scores stay in the autocast dtype (bf16). Computing them in fp32, as SDPA does, costs 8% of
    # a step and did not learn better: the one base run with fp32 scores extrapolated worst
    # (docs/EXPERIMENTS.md, B6). Decoding keeps fp32 scores (see masked_attention).
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, H, T, T)
    return scores.masked_fill(future, float("-inf")).softmax(-1) @ v


def attention_bias(mask: torch.Tensor, n_head: int) -> torch.Tensor:
    """The additive form of a (B, 1, T, Tk) bool mask: 0 where True, -inf elsewhere, (B*H, T, Tk) fp32.

    Every layer of a decoding step reads the same mask, so ``Transformer.forward`` builds this once a
    step rather than once a layer (the zeros, fill and per-head copy were ~12% of CPU attention).
    """
    B, _, T, Tk = mask.shape
    with torch.autocast(mask.device.type, enabled=False):
        bias = torch.zeros(mask.shape, device=mask.device).masked_fill_(~mask, float("-inf"))
        return bias.expand(B, n_head, T, Tk).reshape(B * n_head, T, Tk)


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax attention of q (B, H, T, D) over k, v (B, H, Tk, D) where mask (B, 1, T, Tk) is True;
    on CPU ``mask`` may also be its ``attention_bias`` (B*H, T, Tk), built once for every layer.

    On CPU the fused SDPA kernel with a mask costs 1.6x more than three plain ops at decoding
    shapes (measured in fp32: 4.0 ms vs 2.5 ms per layer at B=256, H=6, T=1, Tk=55; 4x in bf16),
    and it runs in every layer of every decoding step. The plain ops are 3-d ``bmm`` calls on the
    (B*H, Tk, D) view of the cache - a slice of the preallocated cache is such a view, where 4-d
    ``matmul`` copied it - and ``baddbmm`` adds the mask as a 0/-inf bias while it scales the
    scores (one pass instead of three; 12 vs 16 ms a layer at B=256, Tk=40 of 55).
    """
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    B, H, T, D = q.shape
    Tk = k.shape[-2]
    # fp32 even under bf16 autocast, as inside SDPA: with scores rounded to bf16, the bf16 labels
    # of a trained model matched its fp32 labels on 3,382 of 3,600 prompts (1-12 digits), against
    # 3,489 in fp32 - the differences sit at the lengths being labelled, where it is unsure.
    bias = attention_bias(mask, H) if mask.dtype == torch.bool else mask
    with torch.autocast("cpu", enabled=False):
        keys = k.float().reshape(B * H, Tk, D).transpose(1, 2)
        scores = torch.baddbmm(bias, q.float().reshape(B * H, T, D), keys, alpha=D**-0.5)  # (B*H, T, Tk)
        return torch.bmm(scores.softmax(-1), v.float().reshape(B * H, Tk, D)).view(B, H, T, D)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.cfg, self.layer = cfg, layer
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x, cache: KVCache | None, mask: torch.Tensor | None, positions) -> torch.Tensor:
        B, T, C = x.shape
        H = self.cfg.n_head
        q, k, v = self.qkv(x).view(B, T, 3, H, C // H).permute(2, 0, 3, 1, 4)  # 3 x (B, H, T, D)
        if self.cfg.rope:
            q, k = rotate(q, positions, self.cfg.rope_theta), rotate(k, positions, self.cfg.rope_theta)
        if cache is None:
            # Training and uncached scoring: right-padded rows need only the causal mask.
            y = causal_attention(q, k, v)
        else:
            start = cache.length
            cache.k[self.layer, :, :, start : start + T] = k
            cache.v[self.layer, :, :, start : start + T] = v
            # Only the filled positions: the slice is a strided view that masked_attention's
            # bmm reads in place (no copy), and the unfilled tail is never touched.
            end = start + T
            k, v = cache.k[self.layer, :, :, :end], cache.v[self.layer, :, :, :end]  # (B, H, end, D)
            y = masked_attention(q, k, v, mask)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate_up = nn.Linear(cfg.n_embd, 2 * cfg.mlp_hidden, bias=False)  # fused: one matmul
        self.down = nn.Linear(cfg.mlp_hidden, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and type(self.gate_up) is nn.Linear:
            # Inference: two products over the weight's contiguous halves give the same numbers
            # (tested) as contiguous outputs, on which SiLU and the product run at full speed; the
            # halves of one fused output are strided views. Training keeps the one fused product.
            weight, hidden = self.gate_up.weight, self.gate_up.out_features // 2
            # In place: the SiLU and the product write over the gate's output, no new activations.
            return self.down(F.silu(F.linear(x, weight[:hidden]), inplace=True).mul_(F.linear(x, weight[hidden:])))
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.attn = Attention(cfg, layer)
        self.mlp_norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def forward(self, x, cache, mask, positions, keep=None) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cache, mask, positions)
        if keep is not None:
            x = x[keep]  # only these positions go on (the last block: the rest are never scored)
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.apply(self._init)
        # Scale residual-branch outputs down with depth (GPT-2) so early training is stable.
        for name, p in self.named_parameters():
            if name.endswith(("proj.weight", "down.weight")):
                nn.init.normal_(p, std=cfg.init_std / math.sqrt(2 * cfg.n_layer))

    def _init(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.cfg.init_std)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(
        self,
        idx: torch.Tensor,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        last_only: bool = False,
        keep: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits (B, T, V) for tokens idx (B, T); (B, 1, V) with ``last_only``; (N, V) for the N
        True positions of a (B, T) bool ``keep``, in row-major order.

        With ``last_only`` or ``keep``, the last block's MLP and the head run on those positions
        alone: the answer-only loss scores ~40% of the positions, decoding only the last one.
        With a cache, idx continues the cached sequence; ``cache.valid`` must already mark which
        of the new positions are real tokens (left pads are not).
        """
        B, T = idx.shape
        mask = None
        if cache is not None:
            # Keys up to the last new position: every layer reads the same mask, built once here.
            mask = decode_mask(cache.valid, cache.length, T)[..., : cache.length + T]  # (B, 1, T, Tk)
            if idx.device.type == "cpu":
                mask = attention_bias(mask, self.cfg.n_head)  # (B*H, T, Tk)
        if self.cfg.rope and positions is None:
            positions = torch.arange(T, device=idx.device).expand(B, T)
        if last_only:
            keep = (slice(None), slice(-1, None))  # x[keep] == x[:, -1:]
        x = self.embed(idx)  # (B, T, C)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, mask, positions, keep if i == len(self.blocks) - 1 else None)
        if cache is not None:
            cache.length += T
        return self.head(self.norm(x))


def decode_mask(valid: torch.Tensor, start: int, T: int) -> torch.Tensor:
    """Attention mask (B, 1, T, Tmax) for T queries at positions start … start+T-1 of the cache.

    A query sees a key if the key is causal-visible and real (``valid``; positions not yet
    written are not). Each query also sees itself, so a pad query never has an all-masked row
    (which would give NaN that leaks into the cache).
    """
    Tmax = valid.shape[1]
    q_pos = torch.arange(start, start + T, device=valid.device)[:, None]  # (T, 1)
    k_pos = torch.arange(Tmax, device=valid.device)[None, :]  # (1, Tmax)
    mask = (k_pos <= q_pos)[None] & valid[:, None, :]  # (B, T, Tmax)
    mask |= (k_pos == q_pos)[None]
    return mask[:, None]  # (B, 1, T, Tmax)
