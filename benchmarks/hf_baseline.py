"""The Hugging Face side of the benchmark: our weights in a ``LlamaForCausalLM`` with true NoPE.

``rope_theta = inf`` is *not* NoPE in Hugging Face Llama (one rotary pair keeps rotating; see
``/work/shared/REFERENCE.md``), so the rotary module is replaced by one that returns cos = 1 and
sin = 0: ``q * 1 + rotate_half(q) * 0 == q`` exactly, and the model sees only the causal mask.
``check_same_logits`` proves the result computes our model's logits before anything is timed.

Weights are mapped as for ``selfimprove export`` (``selfimprove/export.py``, ``hf_state_dict``).

Training baseline: a plain loop (forward -> our masked loss -> backward -> clip -> AdamW step),
not ``Trainer``, so both sides run the same optimizer, loss, clipping and batches and only the
model code differs. No attention mask is passed in training: right-padded rows need only the
causal mask (the loss never reads pad positions), and without one HF takes its fastest
(``is_causal``) attention path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from selfimprove.data import IGNORE
from selfimprove.model import ModelConfig, Transformer


class NoRotary(nn.Module):
    """Stands in for ``LlamaRotaryEmbedding``: cos = 1, sin = 0 at every position (true NoPE)."""

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        self.head_dim = head_dim

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor):
        B, T = position_ids.shape
        ones = torch.ones(B, T, self.head_dim, dtype=x.dtype, device=x.device)  # (B, T, D)
        return ones, torch.zeros_like(ones)


def hf_config(cfg: ModelConfig, pad_id: int, bos_id: int, eos_id: int) -> LlamaConfig:
    if cfg.rope:
        raise ValueError("the Hugging Face baseline is built for NoPE models only")
    return LlamaConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.n_embd,
        intermediate_size=cfg.mlp_hidden,
        num_hidden_layers=cfg.n_layer,
        num_attention_heads=cfg.n_head,
        num_key_value_heads=cfg.n_head,
        head_dim=cfg.n_embd // cfg.n_head,
        hidden_act="silu",
        rms_norm_eps=cfg.norm_eps,
        max_position_embeddings=4096,  # unused: NoRotary ignores positions
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        attention_dropout=0.0,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
    )


@torch.no_grad()
def load_into_hf(hf: LlamaForCausalLM, model: Transformer) -> None:
    """Copy our weights into ``hf`` (same config), the fused matrices split as export.py does."""
    from selfimprove.export import hf_state_dict

    dtype = next(hf.parameters()).dtype
    hf.load_state_dict({k: v.to(dtype) for k, v in hf_state_dict(model).items()})


def build_hf(model: Transformer, pad_id: int, bos_id: int, eos_id: int, attn: str = "sdpa") -> LlamaForCausalLM:
    """A ``LlamaForCausalLM`` with true NoPE holding a copy of ``model``'s weights (fp32)."""
    cfg = model.cfg
    hf = LlamaForCausalLM(hf_config(cfg, pad_id, bos_id, eos_id))
    hf.config._attn_implementation = attn
    hf.model.rotary_emb = NoRotary(cfg.n_embd // cfg.n_head)
    load_into_hf(hf, model)
    hf.generation_config.pad_token_id = pad_id
    hf.generation_config.eos_token_id = eos_id
    hf.generation_config.bos_token_id = bos_id
    return hf.train(model.training)


def hf_answer_loss(hf: LlamaForCausalLM, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Our ``answer_loss`` on HF's forward: cross-entropy on answer + EOS targets only."""
    logits = hf(input_ids=x, use_cache=False).logits  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE)


@torch.no_grad()
def hf_greedy(
    hf: LlamaForCausalLM, prompts: list[list[int]], max_new: int, pad_id: int, eos_id: int | None, **generate_kwargs
) -> list[list[int]]:
    """HF ``generate`` (greedy) on left-padded prompts; returns each row's tokens before EOS.

    ``eos_id=None`` decodes exactly ``max_new`` tokens per row (EOS is then an ordinary token).
    """
    B, P = len(prompts), max(len(p) for p in prompts)
    idx = torch.full((B, P), pad_id, dtype=torch.long)
    mask = torch.zeros(B, P, dtype=torch.long)
    for row, prompt in enumerate(prompts):
        idx[row, P - len(prompt) :] = torch.as_tensor(prompt)
        mask[row, P - len(prompt) :] = 1
    out = hf.generate(
        input_ids=idx,
        attention_mask=mask,
        do_sample=False,
        max_new_tokens=max_new,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        **generate_kwargs,
    )[:, P:]
    rows = []
    for seq in out.tolist():
        if eos_id is not None and eos_id in seq:
            seq = seq[: seq.index(eos_id)]
        rows.append(seq)
    return rows


@torch.no_grad()
def check_same_logits(model: Transformer, hf: LlamaForCausalLM, x: torch.Tensor, atol: float = 1e-4) -> float:
    """Max |ours - HF| over the logits of batch x (B, T) in fp32; raises if above ``atol``."""
    was_ours, was_hf = model.training, hf.training
    model.eval(), hf.eval()
    ours = model(x)
    theirs = hf(input_ids=x, use_cache=False).logits
    model.train(was_ours), hf.train(was_hf)
    diff = (ours - theirs).abs().max().item()
    if not diff <= atol:
        raise AssertionError(f"HF logits differ from ours by {diff:.2e} (> {atol:.0e}): not the same model")
    return diff
