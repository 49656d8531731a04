"""Token ids for one task: three specials, then the task's own vocabulary in its fixed order.

Ids 0, 1, 2 are PAD, BOS and EOS; the task's tokens follow. For reverse addition
(vocabulary ``0-9 + =``)::

    >>> from selfimprove.tasks import get_task
    >>> tok = Tokenizer.for_task(get_task("reverse_addition"))
    >>> tok.encode("21+543=")
    [5, 4, 13, 8, 7, 6, 14]
    >>> tok.decode([tok.bos_id, 5, 4, 13, 8, 7, 6, 14, 10, tok.eos_id, tok.pad_id])
    '21+543=7'

Splitting text into tokens is the task's job (``Task.split``): characters for every task except
the maze, whose node labels 1-99 are one token each. A training sequence is
``[bos_id] + encode(prompt + answer) + [eos_id]``, padded with ``pad_id``.

No torch here: the tokenizer works on plain lists so the CLI and the data pipeline can share it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selfimprove.tasks.base import Task, TaskError

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS)


class Tokenizer:
    """Maps a task's tokens to ids and back; specials first so ``pad_id == 0``."""

    def __init__(self, task_name: str, tokens: list[str], split: Callable[[str], list[str]]) -> None:
        if len(set(tokens)) != len(tokens) or set(tokens) & set(SPECIALS):
            raise ValueError(f"vocabulary of {task_name!r} repeats a token or uses a special name")
        self.task_name = task_name
        self.tokens = list(SPECIALS) + list(tokens)
        self._ids = {token: i for i, token in enumerate(self.tokens)}
        self._split = split
        self.pad_id, self.bos_id, self.eos_id = (self._ids[s] for s in SPECIALS)

    @classmethod
    def for_task(cls, task: Task) -> Tokenizer:
        return cls(task.name, task.vocabulary(), task.split)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        """Text -> ids, no specials added. An unknown token raises ``TaskError`` naming it.

        >>> from selfimprove.tasks import get_task
        >>> Tokenizer.for_task(get_task("copy")).encode("12a=")
        Traceback (most recent call last):
        ...
        selfimprove.tasks.base.TaskError: token 'a' at position 2 of '12a=' is not in the copy vocabulary
        """
        ids = []
        for position, token in enumerate(self._split(text)):
            if token not in self._ids or token in SPECIALS:
                raise TaskError(
                    f"token {token!r} at position {position} of {text!r} "
                    f"is not in the {self.task_name} vocabulary"
                )
            ids.append(self._ids[token])
        return ids

    def decode(self, ids: list[int]) -> str:
        """Ids -> text. PAD and BOS are dropped and decoding stops at the first EOS, so a
        generated row (left pads, prompt, answer, EOS, junk after it) decodes to its text alone.
        Ids outside the vocabulary raise ``ValueError``."""
        out = []
        for i in ids:
            i = int(i)  # accepts numpy / tensor scalars without importing either
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"token id {i} is outside the vocabulary of size {len(self.tokens)}")
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                out.append(self.tokens[i])
        return "".join(out)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready description that a checkpoint stores to rebuild exactly these ids."""
        return {"task": self.task_name, "tokens": self.tokens}

    @classmethod
    def from_json(cls, data: dict[str, Any], task: Task) -> Tokenizer:
        """Inverse of ``to_json``, for the task the caller built (from the run's config: a built-in,
        an installed entry point or a task file; a name alone cannot find a file's task). Ids come
        from the stored list, not from today's task code, so an old checkpoint keeps its ids; only
        the splitting rule is taken from the task, which must be the one the vocabulary names.

        >>> from selfimprove.tasks import get_task
        >>> copy = get_task("copy")
        >>> Tokenizer.from_json(Tokenizer.for_task(copy).to_json(), copy).encode("12=")
        [4, 5, 13]
        """
        tokens = list(data["tokens"])
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"stored vocabulary must start with {SPECIALS}, got {tokens[:3]}")
        if data["task"] != task.name:
            raise ValueError(f"stored vocabulary is task {data['task']!r}'s, not {task.name!r}'s")
        return cls(task.name, tokens[len(SPECIALS) :], task.split)
