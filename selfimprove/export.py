"""Export a run's model as a standard Hugging Face directory (``selfimprove export``).

Our model is a LLaMA-style decoder with *no* positional encoding. A stock ``LlamaForCausalLM``
cannot hold it (``rope_theta = inf`` still turns one rotary pair by 1 rad per token), but
``SmolLM3ForCausalLM`` has a per-layer switch: ``no_rope_layers[i] == 0`` skips rotary embedding
in layer i. With every entry 0, untied embeddings and no biases it computes exactly our model
(tests/test_export.py checks logits and greedy answers), so ``from_pretrained`` needs no remote
code. The tokenizer is a ``tokenizers`` word-level vocabulary with our ids, split the way the
task splits text, with BOS prepended as our prompts have it. A LoRA run (``backend: hf``) exports
its base class with the adapters merged (``export_pretrained``).

Weight mapping (ours -> HF); our fused matrices are split row-wise, in the order we fuse them::

    embed                   -> model.embed_tokens
    blocks.i.attn_norm      -> model.layers.i.input_layernorm
    blocks.i.attn.qkv       -> q_proj, k_proj, v_proj   (rows [0:C], [C:2C], [2C:3C])
    blocks.i.attn.proj      -> o_proj
    blocks.i.mlp_norm       -> post_attention_layernorm
    blocks.i.mlp.gate_up    -> gate_proj, up_proj       (rows [0:F], [F:2F])
    blocks.i.mlp.down       -> down_proj
    norm, head              -> model.norm, lm_head
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from selfimprove.errors import UserError
from selfimprove.model import ModelConfig, Transformer
from selfimprove.tokenizer import BOS, EOS, PAD, Tokenizer


class ExportError(UserError):
    """An export that cannot be done as asked: one line naming what and how to fix it."""


def hf_state_dict(model: Transformer) -> dict[str, torch.Tensor]:
    """Our weights under SmolLM3/LLaMA parameter names, fused matrices split (fp32 copies)."""
    C, F = model.cfg.n_embd, model.cfg.mlp_hidden
    out = {"model.embed_tokens.weight": model.embed.weight, "model.norm.weight": model.norm.weight,
           "lm_head.weight": model.head.weight}
    for i, block in enumerate(model.blocks):
        qkv, gate_up, layer = block.attn.qkv.weight, block.mlp.gate_up.weight, f"model.layers.{i}"
        out |= {
            f"{layer}.input_layernorm.weight": block.attn_norm.weight,
            f"{layer}.self_attn.q_proj.weight": qkv[:C],
            f"{layer}.self_attn.k_proj.weight": qkv[C : 2 * C],
            f"{layer}.self_attn.v_proj.weight": qkv[2 * C :],
            f"{layer}.self_attn.o_proj.weight": block.attn.proj.weight,
            f"{layer}.post_attention_layernorm.weight": block.mlp_norm.weight,
            f"{layer}.mlp.gate_proj.weight": gate_up[:F],
            f"{layer}.mlp.up_proj.weight": gate_up[F:],
            f"{layer}.mlp.down_proj.weight": block.mlp.down.weight,
        }
    return {k: v.detach().float().cpu().contiguous().clone() for k, v in out.items()}


def hf_config(cfg: ModelConfig, tok: Tokenizer, max_positions: int = 4096):
    """A ``SmolLM3Config`` with rotary embedding off in every layer: our NoPE model."""
    from transformers import SmolLM3Config

    if cfg.rope:
        raise ExportError("export supports NoPE runs only (this run has model.rope=true, whose rotary layout "
                          "differs from Hugging Face's)")
    return SmolLM3Config(
        vocab_size=cfg.vocab_size, hidden_size=cfg.n_embd, intermediate_size=cfg.mlp_hidden,
        num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_head,
        hidden_act="silu", rms_norm_eps=cfg.norm_eps, no_rope_layers=[0] * cfg.n_layer,
        tie_word_embeddings=False, attention_bias=False, mlp_bias=False, attention_dropout=0.0,
        max_position_embeddings=max_positions,  # unused by NoPE layers; a bound for generate only
        pad_token_id=tok.pad_id, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
    )


def hf_tokenizer(tok: Tokenizer):
    """A fast tokenizer with exactly our ids: whole-token pieces, longest first (maze labels 1-99
    are one token, as ``Task.split`` makes them), BOS prepended, pieces joined without spaces."""
    from tokenizers import Regex, decoders, pre_tokenizers, processors
    from tokenizers import Tokenizer as RawTokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(tok.tokens)}
    words = sorted((t for t in tok.tokens if t not in (PAD, BOS, EOS)), key=len, reverse=True)
    raw = RawTokenizer(WordLevel(vocab, unk_token=PAD))  # an unknown piece maps to PAD, visibly wrong
    raw.pre_tokenizer = pre_tokenizers.Split(Regex("|".join(map(re.escape, words))), behavior="isolated")
    raw.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, tok.bos_id)])
    raw.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=PAD, padding_side="left")


def export_model(model: Transformer, tok: Tokenizer, to: Path) -> Path:
    """Write ``to`` as a Hugging Face directory: config.json, model.safetensors,
    generation_config.json (greedy, our EOS/PAD) and the tokenizer files."""
    from transformers import GenerationConfig, SmolLM3ForCausalLM

    config = hf_config(model.cfg, tok)
    with torch.device("meta"):  # no random init: every weight is ours
        hf = SmolLM3ForCausalLM(config)
    hf.load_state_dict(hf_state_dict(model), assign=True, strict=True)
    hf.generation_config = GenerationConfig(do_sample=False, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
                                            pad_token_id=tok.pad_id)
    to.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(to, safe_serialization=True)
    hf_tokenizer(tok).save_pretrained(to)
    return to


def export_pretrained(net, tok: Tokenizer, to: Path) -> Path:
    """A LoRA run (``hf_backend.PretrainedLM``) as its base class with the adapters merged and the
    vocabulary cut to the task's tokens: embedding and head rows taken at the mapped pretrained ids,
    so the exported tokenizer is ours (character level, as the model was trained) and ``generate``
    chooses among the same tokens as our decoding. PAD and BOS are suppressed, as our head does."""
    from transformers import GenerationConfig

    lm = net.net.merge_and_unload()
    ids = net.ids.cpu()
    embed, head = lm.get_input_embeddings(), lm.get_output_embeddings()
    tied = head.weight is embed.weight
    with torch.no_grad():
        embed.weight = torch.nn.Parameter(embed.weight[ids].clone())
        head.weight = embed.weight if tied else torch.nn.Parameter(head.weight[ids].clone())
        if head.bias is not None:
            head.bias = torch.nn.Parameter(head.bias[ids].clone())
    embed.num_embeddings = head.out_features = len(ids)
    lm.config.vocab_size = len(ids)
    lm.config.pad_token_id, lm.config.bos_token_id, lm.config.eos_token_id = tok.pad_id, tok.bos_id, tok.eos_id
    lm.generation_config = GenerationConfig(do_sample=False, bos_token_id=tok.bos_id, eos_token_id=tok.eos_id,
                                            pad_token_id=tok.pad_id, suppress_tokens=[tok.pad_id, tok.bos_id])
    to.mkdir(parents=True, exist_ok=True)
    lm.save_pretrained(to, safe_serialization=True)
    hf_tokenizer(tok).save_pretrained(to)
    return to


def export_run(run_dir: Path, to: Path, round_: int | None = None, model: int = 0) -> Path:
    """Export a finished round (default: the latest) of ``run_dir`` to the new folder ``to``."""
    from selfimprove.predict import load_round_model

    if to.exists() and any(to.iterdir()):
        raise ExportError(f"--to {to} already exists and is not empty; name a new folder")
    _, tok, net, _ = load_round_model(run_dir, round_, model)
    if isinstance(net, Transformer):
        return export_model(net, tok, to)
    return export_pretrained(net, tok, to)
