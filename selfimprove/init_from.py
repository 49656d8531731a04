"""``model.init_from: RUN_DIR``: start round 0 from another run's final model.

The CPU-scale analogue of the paper's "pretrained models accelerate self-improvement": continue a
run under another schedule or filter, or warm-start one task from a model trained on others.
Every weight is copied except the rows of the embedding and the output head, which are copied
*by token*: a token both vocabularies hold (``"7"``, ``"="``, BOS) takes the source's row, a token
new to this task (``"+"`` after a copy model) keeps its fresh initialisation. The architecture
must be the same; the optimizer starts fresh (round 0's warmup is there for that).
"""

from __future__ import annotations

from pathlib import Path

import torch

from selfimprove.config import ConfigError, RunConfig, config_from_dict
from selfimprove.io import read_yaml
from selfimprove.layout import RunDir
from selfimprove.model import Transformer
from selfimprove.tokenizer import Tokenizer

BY_TOKEN = ("embed.weight", "head.weight")  # rows indexed by token id


def check_init_from(cfg: RunConfig) -> None:
    """One-line ``ConfigError`` unless ``model.init_from`` is unset or a run with a finished round."""
    source = cfg.model.init_from
    if source is None:
        return
    theirs_dir = RunDir(Path(source))
    if not theirs_dir.config.is_file():
        raise ConfigError(f"model.init_from {source}: not a run directory (no config.yaml); give a finished run's folder")
    if not theirs_dir.finished():
        raise ConfigError(f"model.init_from {source}: the run has no finished round yet")
    theirs = config_from_dict(read_yaml(theirs_dir.config)).model.architecture()
    for key, value in cfg.model.architecture().items():
        if theirs[key] != value:
            raise ConfigError(f"model.init_from {source}: its model has model.{key}={theirs[key]!r} but this config "
                              f"has {value!r}; the architecture must match")


def warm_start(model: Transformer, tok: Tokenizer, source: Path, m: int = 0) -> None:
    """Load the final model of run ``source`` into ``model`` (voting model m, or model 0 if the
    source has fewer), mapping the token-indexed rows from the source's vocabulary to ``tok``'s."""
    from selfimprove.predict import load_round_model

    theirs_dir = RunDir.of(source, config_from_dict(read_yaml(RunDir(source).config)))
    _, their_tok, theirs, _ = load_round_model(source, theirs_dir.finished()[-1], m if m < theirs_dir.k else 0)
    shared = [(i, their_tok.tokens.index(t)) for i, t in enumerate(tok.tokens) if t in their_tok.tokens]
    ours_idx, their_idx = (torch.tensor(ids) for ids in zip(*shared))
    state, loaded = model.state_dict(), theirs.state_dict()
    with torch.no_grad():
        for name, tensor in state.items():
            if name in BY_TOKEN:
                tensor[ours_idx] = loaded[name][their_idx]
            else:
                tensor.copy_(loaded[name])
