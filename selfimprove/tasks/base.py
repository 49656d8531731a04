"""The Task protocol every task implements, the difficulty type, and the task registry.

A task turns a difficulty into a random problem, a problem into prompt text, and prompt text back
into a problem. ``solve`` is the oracle: only round-0 data and evaluation may call it (see
``DESIGN.md``, "oracle firewall"). Training text is always ``BOS + prompt + answer + EOS``.

Difficulty is an ``int`` (digits, string length) or a tuple of ints (multiplication: digits of
each operand; maze: hops and nodes). It is always written to files as an int or a list of ints.

This module imports the standard library only, so ``selfimprove sample`` starts without torch.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from selfimprove.errors import UserError

Difficulty = int | tuple[int, ...]

# Problems are small frozen dataclasses owned by each task; the protocol treats them opaquely.
Problem = Any


class TaskError(UserError):
    """Bad input to a task (malformed prompt, difficulty out of range): a user error, one line."""


@dataclass(frozen=True)
class Verdict:
    """Outcome of checking an answer: ``ok``, and when not ok, which check failed and why."""

    ok: bool
    check: str = ""  # name of the failed check, e.g. "format", "moves", "end", "repeat", "value"
    reason: str = ""  # one human-readable line

    def __bool__(self) -> bool:
        return self.ok


CORRECT = Verdict(True)


class Task(Protocol):
    """What every task provides. Implementations are plain classes, not subclasses."""

    name: str
    axes: tuple[str, ...]  # names of the difficulty axes, e.g. ("digits",) or ("hops", "nodes")

    def vocabulary(self) -> list[str]:
        """Every token that prompts and answers of this task can contain, in a fixed order."""
        ...

    def split(self, text: str) -> list[str]:
        """Text -> tokens (characters; maze node labels 1-99 are one token each)."""
        ...

    def sample(self, difficulty: Difficulty, rng: random.Random) -> Problem:
        """A uniformly random problem of exactly this difficulty."""
        ...

    def sample_initial(self, low: Difficulty, high: Difficulty, rng: random.Random) -> Problem:
        """A round-0 problem with difficulty between ``low`` and ``high`` (paper C.2.1)."""
        ...

    def difficulty(self, problem: Problem) -> Difficulty: ...

    def prompt(self, problem: Problem) -> str: ...

    def parse(self, prompt: str) -> Problem:
        """Prompt text -> problem; raises ``TaskError`` on malformed text."""
        ...

    def solve(self, problem: Problem) -> str:
        """The oracle answer text. Round-0 data and evaluation only."""
        ...

    def verify(self, problem: Problem, answer: str) -> Verdict:
        """Is ``answer`` correct for ``problem``? Says which check failed when it is not."""
        ...

    def max_answer_len(self, difficulty: Difficulty) -> int:
        """Upper bound on answer tokens (EOS excluded) from the difficulty alone."""
        ...

    def check_difficulty(self, difficulty: Difficulty) -> Difficulty:
        """Normalise and validate a difficulty; raises ``TaskError`` when out of range."""
        ...


def parse_difficulty(text: str) -> Difficulty:
    """``"12"`` -> 12, ``"5,6"`` -> (5, 6). Raises ``TaskError`` on anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise TaskError(f"difficulty {text!r} is not an integer or comma-separated integers") from None
    return values[0] if len(values) == 1 else values


def difficulty_to_json(difficulty: Difficulty) -> int | list[int]:
    return list(difficulty) if isinstance(difficulty, tuple) else int(difficulty)


def difficulty_from_json(value: int | list[int]) -> Difficulty:
    return tuple(int(v) for v in value) if isinstance(value, list) else int(value)


def format_difficulty(difficulty: Difficulty) -> str:
    return ",".join(map(str, difficulty)) if isinstance(difficulty, tuple) else str(difficulty)


_REGISTRY: dict[str, Callable[..., Task]] = {}


def register(name: str, factory: Callable[..., Task]) -> None:
    """Makes a task constructible by name; ``factory(**options)`` builds it."""
    _REGISTRY[name] = factory


def task_names() -> list[str]:
    _load_builtin_tasks()
    return sorted(_REGISTRY)


def get_task(name: str, **options: Any) -> Task:
    """The task called ``name``, built with its options. Unknown names are a one-line error."""
    _load_builtin_tasks()
    if name not in _REGISTRY:
        raise TaskError(f"unknown task {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    try:
        return _REGISTRY[name](**options)
    except TypeError as err:
        raise TaskError(f"bad options for task {name!r}: {err}") from None


def _load_builtin_tasks() -> None:
    # Imported lazily so that base.py has no import cycle with the task modules.
    from selfimprove.tasks import addition, maze, multiplication, strings  # noqa: F401
