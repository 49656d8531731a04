import pytest
import torch

from selfimprove.model import ModelConfig, Transformer


@pytest.fixture
def tiny_model() -> Transformer:
    """A 2-layer random model small enough for exact equivalence tests in fp32."""
    torch.manual_seed(0)
    return Transformer(ModelConfig(vocab_size=24, n_layer=2, n_head=2, n_embd=32, mlp_hidden=64)).eval()
