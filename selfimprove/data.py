"""Examples -> token arrays with the prompt masked; the mixture sampler over rounds; batches.

A training sequence is ``BOS + prompt + answer + EOS``. The model reads it shifted by one and is
scored only where the *next* token belongs to the answer or is the EOS::

    sequence  BOS  2  1  +  5  4  3  =  7  5  3  0  EOS
    input     BOS  2  1  +  5  4  3  =  7  5  3  0
    target     .   .  .  .  .  .  .  7  5  3  0  EOS      ("." = ignored, -100)

Batches are a pure function of ``(seed, round, step)``: a resumed run draws exactly the batches
an uninterrupted one would have, with no sampler state to save.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

IGNORE = -100


@dataclass
class TokenSet:
    """One round's examples, tokenized and right-padded into one array."""

    tokens: np.ndarray  # (N, L) int32: BOS + prompt + answer + EOS, then pads
    lengths: np.ndarray  # (N,) tokens before padding
    prompt_lengths: np.ndarray  # (N,) BOS + prompt
    levels: int  # distinct difficulties in the set: its weight among the older sets

    def __len__(self) -> int:
        return len(self.lengths)


def build_token_set(tokenizer, pairs: Sequence[tuple[str, str]], levels: int) -> TokenSet:
    """``pairs`` of (prompt, answer) text -> a TokenSet."""
    if not pairs:
        raise ValueError("cannot build a training set from zero examples")
    rows = [
        ([tokenizer.bos_id] + tokenizer.encode(p), tokenizer.encode(a) + [tokenizer.eos_id]) for p, a in pairs
    ]
    lengths = np.array([len(p) + len(a) for p, a in rows], dtype=np.int64)
    tokens = np.full((len(rows), int(lengths.max())), tokenizer.pad_id, dtype=np.int32)
    for i, (p, a) in enumerate(rows):
        tokens[i, : len(p) + len(a)] = p + a
    prompt_lengths = np.array([len(p) for p, _ in rows], dtype=np.int64)
    return TokenSet(tokens, lengths, prompt_lengths, max(1, levels))


MIXTURES = ("levels", "uniform", "size")


def mixture_weights(sets: Sequence[TokenSet], newest_fraction: float = 0.5, mixture: str = "levels") -> np.ndarray:
    """Probability of drawing from each set: the newest gets ``newest_fraction``, the rest is
    shared by the older sets, in proportion to their difficulty levels (``levels``: uniform over
    levels, the authors' code), equally (``uniform``: "sampled uniformly", paper §3) or in
    proportion to their sizes (``size``: uniform over the older examples pooled).

    Example: D0 with 16 levels, D1 and D2 with one each -> levels [16/18 * 0.5, 1/18 * 0.5, 0.5],
    uniform [0.25, 0.25, 0.5].
    """
    if mixture not in MIXTURES:
        raise ValueError(f"mixture must be one of {MIXTURES}, got {mixture!r}")
    if len(sets) == 1:
        return np.array([1.0])
    share = {"levels": lambda s: s.levels, "uniform": lambda s: 1, "size": len}[mixture]
    older = np.array([share(s) for s in sets[:-1]], dtype=np.float64)
    return np.append(older / older.sum() * (1 - newest_fraction), newest_fraction)


def draw_examples(sets: Sequence[TokenSet], weights: np.ndarray, n: int, rng: np.random.Generator):
    """``n`` (set, row) pairs. Each set's share is fixed up front (largest remainders) so the
    newest round really is its fraction of every draw, not just on average."""
    exact = weights * n
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact)[: n - counts.sum()]] += 1
    picks = [(k, r) for k, c in enumerate(counts) for r in rng.integers(0, len(sets[k]), size=c)]
    return [picks[i] for i in rng.permutation(len(picks))]


def collate(sets: Sequence[TokenSet], picks, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(set, row) picks -> input and target tensors (B, T), trimmed to the longest row."""
    T = max(int(sets[k].lengths[r]) for k, r in picks) - 1
    x = np.full((len(picks), T), pad_id, dtype=np.int64)
    y = np.full((len(picks), T), IGNORE, dtype=np.int64)
    for i, (k, r) in enumerate(picks):
        s, n, p = sets[k], int(sets[k].lengths[r]), int(sets[k].prompt_lengths[r])
        x[i, : n - 1] = s.tokens[r, : n - 1]
        y[i, p - 1 : n - 1] = s.tokens[r, p:n]  # answer + EOS; the prompt is never scored
    return torch.from_numpy(x), torch.from_numpy(y)


@dataclass(frozen=True)
class BatchPlan:
    """How step ``step`` of a round gets its batch.

    ``bucket`` consecutive steps share a pool of ``bucket * batch_size`` draws from the mixture,
    sorted by length and cut into ``bucket`` batches (shuffled), so little compute goes to
    padding. Over the pool the mixture proportions hold exactly; ``bucket=1`` keeps them exact
    in every single batch.
    """

    seed: int
    round: int
    batch_size: int
    newest_fraction: float = 0.5
    bucket: int = 8
    mixture: str = "levels"  # see mixture_weights

    def batch(self, sets: Sequence[TokenSet], step: int, pad_id: int, weights_at=None):
        """Step ``step``'s batch. ``weights_at(step)``, if given, replaces the mixture's weights
        over ``sets`` (a round-0 curriculum); a bucket's pool takes those of its first step."""
        group, slot = divmod(step, self.bucket)
        rng = np.random.default_rng([self.seed, self.round, group])
        if weights_at is None:
            weights = mixture_weights(sets, self.newest_fraction, self.mixture)
        else:
            weights = weights_at(group * self.bucket)
        picks = draw_examples(sets, weights, self.batch_size * self.bucket, rng)
        picks.sort(key=lambda kr: int(sets[kr[0]].lengths[kr[1]]))
        batches = [picks[i * self.batch_size : (i + 1) * self.batch_size] for i in range(self.bucket)]
        order = rng.permutation(self.bucket)
        return collate(sets, batches[order[slot]], pad_id)
