"""The Task protocol every task implements, its optional capabilities, and the difficulty type.

A task turns a difficulty into a random problem, a problem into prompt text, and prompt text back
into a problem. ``solve`` is the oracle: only round-0 data and evaluation may call it (see
``DESIGN.md``, "oracle firewall"). Training text is always ``BOS + prompt + answer + EOS``.

Difficulty is an ``int`` (digits, string length) or a tuple of ints (multiplication: digits of
each operand; maze: hops and nodes). It is always written to files as an int or a list of ints.

Beyond the required members a task may declare optional *capabilities* (below the protocol):
consistency twins, shifted twins, named verifier checks, the two addends of a sum, display names
for its axes, an example difficulty, an error-taxonomy family. A generic module asks for one with
``isinstance(task, HasTwins)`` (the protocols are runtime-checkable: having the members is
declaring them) or with the helpers here, never by the task's name, so a task stays one file.

This module imports the standard library only, so ``selfimprove sample`` starts without torch.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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


@dataclass(frozen=True)
class Twin:
    """A twin prompt and the rule ``agrees(original_answer, twin_answer) -> bool``.

    A twin may ask more than one question: with ``extra_prompts`` the rule is
    ``agrees(original_answer, twin_answer, *extra_answers)``, for a check that needs the answers
    together (a sum split in two parts: the label must be the top part's sum shifted plus the
    low part's, carry included)."""

    prompt: str
    agrees: Callable[..., bool]
    extra_prompts: tuple[str, ...] = ()

    @property
    def prompts(self) -> tuple[str, ...]:
        """Every prompt the model answers for this twin, in the order ``agrees`` reads them."""
        return (self.prompt, *self.extra_prompts)


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
        """Upper bound on a right answer's tokens (EOS excluded), from the difficulty alone.

        Decoding runs one token further (``evaluate.decoding_bound``), so it must be a bound on
        right answers, not a guess: an answer that reaches it without EOS counts as wrong."""
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


# --- optional capabilities ----------------------------------------------------------------------


@runtime_checkable
class HasTwins(Protocol):
    """Consistency twins: the ``consistency`` filter and the label-free probe need them."""

    def twins(self, problem: Problem, rng: random.Random) -> list[Twin]:
        """Other problems whose answers follow from ``problem``'s by a known rule; ``[]`` when
        the problem has none (9 + 9). Randomness only from ``rng``; never calls ``solve``."""
        ...


@runtime_checkable
class HasShiftedTwins(Protocol):
    """A second, decorrelating kind of twin: ``consistency: {shifts: N}`` asks for N of them."""

    def shifted_twins(self, problem: Problem, rng: random.Random) -> list[Twin]: ...


@runtime_checkable
class HasCutTwins(Protocol):
    """Shorter twins made of part of the problem: ``consistency: {cuts: N}`` asks for N of them."""

    def cut_twins(self, problem: Problem, rng: random.Random) -> list[Twin]: ...


@runtime_checkable
class HasSplitTwins(Protocol):
    """The problem cut into two shorter ones whose answers together fix the whole label:
    ``consistency: {splits: N}`` asks for N of them, cut at distinct points (all there are when
    the problem has fewer)."""

    def split_twins(self, problem: Problem, rng: random.Random, n: int = 1) -> list[Twin]: ...


@runtime_checkable
class HasChecks(Protocol):
    """Named oracle-free checks of an answer: the ``verifier`` filter keeps labels passing them."""

    check_names: tuple[str, ...]

    def checks(self, problem: Problem, answer: str) -> dict[str, bool]:
        """Every name of ``check_names`` -> did ``answer`` pass it? Reads the prompt, not ``solve``."""
        ...


@runtime_checkable
class HasAddends(Protocol):
    """Problems that add two positive integers: ``selfimprove analyze carries`` needs this."""

    def addends(self, problem: Problem) -> tuple[int, int]: ...

    def from_addends(self, a: int, b: int) -> Problem: ...


def axis_labels(task: Task) -> tuple[str, ...]:
    """Display names of the axes for plots (``axis_labels``, e.g. "digits of a"), else ``axes``."""
    return tuple(getattr(task, "axis_labels", task.axes))


def example_difficulty(task: Task) -> Difficulty:
    """A small, readable difficulty for ``selfimprove tasks`` (``example``; else 3 per axis)."""
    example = getattr(task, "example", None)
    if example is not None:
        return example
    return 3 if len(task.axes) == 1 else (3,) * len(task.axes)
