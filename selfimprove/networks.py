"""The network a config's ``model`` section describes, freshly initialised (seed it first).

``backend: native`` is our NoPE Transformer (``model.py``) sized for the task's vocabulary;
``backend: hf`` is a local pretrained causal LM with fresh LoRA adapters (``hf_backend.py``).
Both take and return the task's token ids, so the rest of the loop never asks which it has.
"""

from __future__ import annotations

from torch import nn

from selfimprove.config import ModelSection, RunConfig
from selfimprove.model import ModelConfig, Transformer
from selfimprove.tokenizer import Tokenizer


def build_network(section: ModelSection, tok: Tokenizer) -> nn.Module:
    if section.backend == "hf":
        from selfimprove.hf_backend import load_pretrained

        return load_pretrained(section, tok)
    return Transformer(ModelConfig(vocab_size=len(tok), init_std=section.init_std, **section.architecture()))


def check_sources(cfg: RunConfig) -> None:
    """One-line ``ConfigError`` unless what the model starts from is there: the run of
    ``model.init_from``, or the pretrained folder of ``backend: hf``. Called before the run
    directory is written, so a corrected path is not "a different config"."""
    from selfimprove.init_from import check_init_from

    check_init_from(cfg)
    if cfg.model.backend == "hf":
        from selfimprove.hf_backend import check_pretrained

        check_pretrained(cfg.model, cfg.task.build())
