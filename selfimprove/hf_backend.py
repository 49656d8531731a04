"""``model: {backend: hf, path: DIR, lora: {...}}``: a local pretrained causal LM trained with LoRA.

The paper's §7.3 / B.5 runs fine-tune Llama-3.2-1B/3B with character-level tokens. Here any local
``AutoModelForCausalLM`` folder works (never remote code, never the network). The run keeps the
task's own token ids (``tokenizer.py``) everywhere; ``PretrainedLM`` maps each of them to the
pretrained tokenizer's existing single token for that character (``"7"``, ``"+"``, maze label
``"12"`` where the tokenizer has it), so the pretrained embeddings are reused, and BOS/EOS/PAD are
the model's own. The output head is evaluated on the task's rows only: the model chooses among the
task's tokens (a 128k-wide head would cost more than the rest of a small model's step), and its
logits come back indexed by our ids, so the loss, the decoding and every filter work unchanged.

Only the LoRA adapters train (``peft``, on the attention and MLP projections). The checkpointed
state of a ``PretrainedLM`` is its adapter: ``state_dict`` holds the trainable tensors only, so
``checkpoint.py`` writes the adapter as safetensors plus its optimizer state, and the base weights
are read from ``path`` again on every start. Adapter dropout masks are seeded by the batch itself,
so a resumed run (which draws the same batches) draws the same masks as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from selfimprove.config import ConfigError, ModelSection
from selfimprove.generate import autocast
from selfimprove.tasks.base import Task
from selfimprove.tokenizer import BOS, EOS, PAD, Tokenizer


@dataclass(frozen=True)
class PretrainedSpec:
    """What a checkpoint records about the network (a resume refuses another base or adapter)."""

    backend: str
    path: str
    r: int
    alpha: float
    dropout: float
    targets: list

    def to_dict(self) -> dict:
        return asdict(self)


def _folder(section: ModelSection) -> Path:
    if not section.path:
        raise ConfigError("model.backend=hf needs model.path=DIR, a local Hugging Face model folder "
                          "(config.json, weights, tokenizer), e.g. a downloaded Llama-3.2-1B")
    path = Path(section.path)
    if not (path / "config.json").is_file():
        what = "no such folder" if not path.is_dir() else "no config.json there"
        raise ConfigError(f"model.path {section.path}: {what}; expected a local Hugging Face model folder "
                          "(config.json, weights, tokenizer)")
    return path


def _tokenizer(path: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(f"model.path {path}: no tokenizer AutoTokenizer can load ({str(err).splitlines()[0]})") from None


def pretrained_ids(hf_tok, tok: Tokenizer, path: Path) -> list[int]:
    """The pretrained id of each of our ids: specials from the model, every task token its single
    pretrained token. A token the tokenizer splits (or lacks) is a one-line ``ConfigError``."""
    if hf_tok.bos_token_id is None or hf_tok.eos_token_id is None:
        raise ConfigError(f"model.path {path}: its tokenizer has no BOS or EOS token")
    specials = {PAD: hf_tok.pad_token_id if hf_tok.pad_token_id is not None else hf_tok.eos_token_id,
                BOS: hf_tok.bos_token_id, EOS: hf_tok.eos_token_id}
    ids = []
    for token in tok.tokens:
        if token in specials:
            ids.append(specials[token])
            continue
        pieces = hf_tok.encode(token, add_special_tokens=False)
        if len(pieces) != 1 or hf_tok.decode(pieces) != token:
            raise ConfigError(f"model.path {path}: its tokenizer has no single token for {token!r} (it becomes "
                              f"{hf_tok.convert_ids_to_tokens(pieces)!r:.80}); the {tok.task_name} task needs one "
                              "token per character")
        ids.append(pieces[0])
    return ids


def check_pretrained(section: ModelSection, task: Task) -> None:
    """Checks of ``backend: hf`` before a run starts: the folder, a causal-LM architecture, the
    tokenizer. Not part of config validation, so the presets load without a model on disk."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    path = _folder(section)
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"model.path {path}: unreadable config.json ({str(err).splitlines()[0]})") from None
    if type(config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
        raise ConfigError(f"model.path {path} holds a {config.model_type!r} model, which is not a causal language "
                          "model (AutoModelForCausalLM cannot load it)")
    pretrained_ids(_tokenizer(path), Tokenizer.for_task(task), path)


def load_pretrained(section: ModelSection, tok: Tokenizer) -> PretrainedLM:
    """The pretrained model of ``section.path`` with fresh LoRA adapters (seeded by the caller's
    ``torch.manual_seed``), frozen everywhere else, in fp32 (autocast gives bf16 compute)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    path = _folder(section)
    ids = pretrained_ids(_tokenizer(path), tok, path)
    base = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, trust_remote_code=False,
                                                dtype=torch.float32)
    lora = section.lora
    try:
        net = get_peft_model(base, LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                              target_modules=list(lora.targets), bias="none"))
    except ValueError as err:
        raise ConfigError(f"model.lora.targets {list(lora.targets)}: {str(err).splitlines()[0]}") from None
    spec = PretrainedSpec("hf", str(section.path), lora.r, lora.alpha, lora.dropout, list(lora.targets))
    return PretrainedLM(net, ids, spec)


def batch_seed(idx: torch.Tensor) -> int:
    """A seed that is a function of the batch alone (same batch, same dropout masks)."""
    weights = torch.arange(1, idx.numel() + 1, device=idx.device, dtype=torch.long).view_as(idx)
    return int((idx.long() * weights).sum().item()) % (2**31)


class PretrainedLM(nn.Module):
    """A peft-wrapped causal LM behind our model's interface: our ids in, logits over our ids out."""

    def __init__(self, net: nn.Module, ids: Sequence[int], spec: PretrainedSpec) -> None:
        super().__init__()
        self.net, self.cfg = net, spec
        self.register_buffer("ids", torch.as_tensor(list(ids), dtype=torch.long), persistent=False)

    @property
    def decoder(self) -> nn.Module:  # the transformer body (LoRA layers inside), hidden states out
        return self.net.get_base_model().get_decoder()

    @property
    def lm_head(self) -> nn.Linear:
        return self.net.get_base_model().get_output_embeddings()

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits (..., V_ours) from the pretrained head's rows of our tokens. PAD and BOS (ids 0, 1)
        are never predicted: PAD often shares EOS's pretrained id, and argmax would pick it first."""
        bias = self.lm_head.bias[self.ids] if self.lm_head.bias is not None else None
        logits = F.linear(hidden, self.lm_head.weight[self.ids], bias)
        return torch.cat([torch.full_like(logits[..., :2], float("-inf")), logits[..., 2:]], dim=-1)

    def forward(self, idx: torch.Tensor, cache=None, positions=None, last_only: bool = False,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        """As ``Transformer.forward`` without a cache (training and scoring; decoding is ``greedy_batch``).
        Right-padded rows need no attention mask: the loss never reads pad positions."""
        if cache is not None:
            raise ValueError("PretrainedLM decodes with its own greedy_batch, not our KVCache")
        dropout = self.training and self.cfg.dropout > 0
        with torch.random.fork_rng(devices=[idx.device] if idx.is_cuda else [], enabled=dropout):
            if dropout:
                torch.manual_seed(batch_seed(idx))
            hidden = self.decoder(input_ids=self.ids[idx], use_cache=False).last_hidden_state  # (B, T, C)
        if last_only:
            hidden = hidden[:, -1:]
        elif keep is not None:
            hidden = hidden[keep]  # (N, C)
        return self.head(hidden)

    @torch.no_grad()
    def greedy_batch(self, prompts: Sequence[Sequence[int]], limits: Sequence[int], eos_id: int, pad_id: int,
                     precision: str = "fp32") -> list[list[int]]:
        """``generate.greedy_batch`` for this model: left-padded prompts, the model's KV cache, each
        row stopping at EOS or its own bound. Positions count real tokens only (RoPE models)."""
        from transformers import DynamicCache

        device = self.ids.device
        B, P = len(prompts), max(len(p) for p in prompts)
        idx = torch.full((B, P), pad_id, dtype=torch.long)
        mask = torch.zeros(B, P, dtype=torch.long)
        for row, prompt in enumerate(prompts):
            idx[row, P - len(prompt) :] = torch.as_tensor(prompt, dtype=torch.long)
            mask[row, P - len(prompt) :] = 1
        idx, mask = idx.to(device), mask.to(device)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        cache, limit = DynamicCache(), torch.as_tensor(list(limits), device=device)
        rows = torch.arange(B, device=device)  # original row of each active batch row
        out: list[list[int]] = [[] for _ in range(B)]
        with autocast(device, precision):
            tokens = idx
            for step in range(max(limits)):
                hidden = self.decoder(input_ids=self.ids[tokens], attention_mask=mask, position_ids=positions,
                                      cache=cache, use_cache=True).last_hidden_state[:, -1]
                token = self.head(hidden).argmax(-1)  # (B',)
                done = (token == eos_id) | (limit[rows] <= step)
                for row, tok in zip(rows[~done].tolist(), token[~done].tolist()):
                    out[row].append(tok)
                if bool(done.all()):
                    break
                if bool(done.any()):  # finished rows leave the batch (and the cache) to save compute
                    keep = (~done).nonzero().squeeze(1)
                    rows, token, positions, mask = rows[keep], token[keep], positions[keep], mask[keep]
                    cache.batch_select_indices(keep)
                tokens, positions = token[:, None], positions[:, -1:] + 1
                mask = torch.cat([mask, torch.ones(len(rows), 1, dtype=mask.dtype, device=device)], dim=1)
        return out

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        """The adapter only: the trainable tensors, by name (the base is read from ``path``)."""
        return {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}

    def load_state_dict(self, tensors: dict, strict: bool = True, assign: bool = False):
        params = dict(self.named_parameters())
        with torch.no_grad():
            for name, value in tensors.items():
                params[name].copy_(value)
