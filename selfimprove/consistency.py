"""Label-free consistency check (beyond the paper): a label must survive a symmetry of its task.

For a problem we build *twins*: other problems whose answers follow from the original answer by
a known rule. The model answers the twins too; a label is kept only when every twin answer
agrees with it. Nothing here reads ground truth, so the check works on unlabelled problems::

    reverse addition 12 + 345 ("21+543=")  twins "543+21=" (b + a) and e.g. "06+792=" (60 + 297,
        the same sum re-split with unchanged digit counts): both answers must equal "7530"
    copy "12345="     sigma = a digit permutation, e.g. twin "80349=": answer sigma("12345")
    copy, split       "12345=" -> "12=" and "345=": the two answers must compose to the label
        (opt-in, ``shifts`` splits per problem); the twins are shorter, where the model is sure
    maze              the same tree relabelled and reshuffled: the relabelled original path
    multiplication    "21*3=" -> twin "3*21=": the products after the last "=" must match

    addition, shifted  "21+543=" -> e.g. "21+778=" (12 + 877: b moved by e = 532, its digit
        count kept): the twin's answer ("9880", 889) minus e must equal the label (357). b + a
        and a re-split keep every column's digit sum modulo 10, so a carry the model misjudges
        for a given column sum is misjudged alike on them; a shift changes the column sums and
        breaks that (opt-in, ``shifts`` twins per problem, docs/EXPERIMENTS.md A2)

A wrong label passes only when the model makes the *matching* mistake on every twin, which is
much rarer than one mistake. An answer that cannot be mapped (malformed, unknown maze node)
disagrees. A problem with no twin (multiplication a x a; 9 + 9) is consistent by default.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from selfimprove.tasks.base import Problem, Task

DIGITS = "0123456789"


@dataclass(frozen=True)
class Twin:
    """A twin prompt and the rule ``agrees(original_answer, twin_answer) -> bool``."""

    prompt: str
    agrees: Callable[[str, str], bool]


# Tasks with a second, decorrelating kind of twin (``shifts`` of them per problem): shifted sums
# for addition, split strings for copy and reverse.
SHIFTABLE = ("reverse_addition", "forward_addition", "copy", "reverse")


def twins(task: Task, problem: Problem, rng: random.Random, shifts: int = 0) -> list[Twin]:
    """The twins of ``problem`` for ``task`` (0-2 of them, plus ``shifts`` shifted twins for
    addition, or ``shifts`` splits, two twins each, for copy and reverse); randomness only from
    ``rng``.

    >>> from selfimprove.tasks import get_task
    >>> add = get_task("reverse_addition")
    >>> [t.prompt for t in twins(add, add.parse("21+543="), random.Random(0))]
    ['543+21=', '06+792=']
    >>> shifted = twins(add, add.parse("21+543="), random.Random(0), shifts=1)[-1]
    >>> shifted.prompt, shifted.agrees("7530", "9880"), shifted.agrees("7531", "9880")
    ('21+778=', True, False)
    """
    if shifts and task.name not in SHIFTABLE:
        raise ValueError(f"shifted twins exist for {', '.join(SHIFTABLE)} only, not {task.name!r}")
    makers: dict[str, Callable[[Task, Any, random.Random], list[Twin]]] = {
        "reverse_addition": _addition_twins,
        "forward_addition": _addition_twins,
        "copy": _string_twins,
        "reverse": _string_twins,
        "maze": _maze_twins,
        "multiplication": _multiplication_twins,
    }
    if task.name not in makers:
        raise ValueError(f"no consistency twins for task {task.name!r}; have: {', '.join(makers)}")
    out = makers[task.name](task, problem, rng)
    shifted = _split_twins if task.name in ("copy", "reverse") else _shifted_twin
    return out + [t for _ in range(shifts) for t in shifted(task, problem, rng)]


def consistent(original_answer: str, twin_answers: Sequence[str], twins: Sequence[Twin]) -> bool:
    """True when every twin's answer agrees with the original answer (vacuously with no twins).

    >>> same = Twin("543+21=", lambda a, b: a == b)
    >>> consistent("7530", ["7530"], [same]), consistent("7530", ["7531"], [same])
    (True, False)
    """
    if len(twin_answers) != len(twins):
        raise ValueError(f"{len(twins)} twins but {len(twin_answers)} twin answers")
    return all(t.agrees(original_answer, a) for t, a in zip(twins, twin_answers))


def _same(original: str, twin: str) -> bool:
    return original.strip() == twin.strip()


# --- addition: b + a, and (a + d) + (b - d) ----------------------------------------------------


def resplit(a: int, b: int, rng: random.Random) -> int | None:
    """A random ``d != 0`` with ``a + d`` and ``b - d`` keeping the digit counts of ``a``, ``b``.

    Keeping both digit counts keeps the difficulty and the answer's padding, so the answer text
    is unchanged. None when only ``d = 0`` fits (e.g. 9 + 9).
    """
    la, lb = len(str(a)), len(str(b))
    lo = max(10 ** (la - 1) - a, b - (10**lb - 1))
    hi = min(10**la - 1 - a, b - 10 ** (lb - 1))  # lo <= 0 <= hi, since d = 0 always fits
    if lo == hi:
        return None
    d = rng.randint(lo, hi - 1)  # uniform over [lo, hi] without 0
    return d + 1 if d >= 0 else d


def _addition_twins(task: Task, p: Any, rng: random.Random) -> list[Twin]:
    out = []
    if p.a != p.b:  # a + a swapped is the same prompt: no information
        out.append(Twin(task.prompt(replace(p, a=p.b, b=p.a)), _same))
    d = resplit(p.a, p.b, rng)
    if d is not None:
        out.append(Twin(task.prompt(replace(p, a=p.a + d, b=p.b - d)), _same))
    return out


def _shifted_twin(task: Any, p: Any, rng: random.Random) -> list[Twin]:
    """a + (b + e) for a random e != 0 that keeps b's digit count (so the difficulty is kept)."""
    digits = len(str(p.b))
    lo, hi = 10 ** (digits - 1) - p.b, 10**digits - 1 - p.b  # lo <= 0 <= hi and lo < hi
    e = rng.randint(lo, hi - 1)
    e = e + 1 if e >= 0 else e  # uniform over [lo, hi] without 0

    def agrees(original: str, twin: str) -> bool:
        value = task.read_total(twin)
        return value is not None and value - e >= 0 and task.write_total(p, value - e) == original.strip()

    return [Twin(task.prompt(replace(p, b=p.b + e)), agrees)]


# --- multiplication: b x a ---------------------------------------------------------------------


def _same_product(original: str, twin: str) -> bool:
    # The chains of thought differ (b x a takes len(a) steps); only the products must agree. Both
    # are padded to len a + len b, so they are equal as text.
    if "=" not in original or "=" not in twin:
        return False
    product = original.rpartition("=")[2].strip()
    return product != "" and product == twin.rpartition("=")[2].strip()


def _multiplication_twins(task: Task, p: Any, rng: random.Random) -> list[Twin]:
    if p.a == p.b:
        return []
    return [Twin(task.prompt(replace(p, a=p.b, b=p.a)), _same_product)]


# --- copy / reverse: a digit permutation --------------------------------------------------------


def _string_twins(task: Task, p: Any, rng: random.Random) -> list[Twin]:
    """sigma permutes the digits; copy and reverse both commute with it, digit by digit."""
    text, used = p.digits, set(p.digits)
    while True:  # sigma must keep a non-zero first digit and change the string
        sigma = dict(zip(DIGITS, rng.sample(DIGITS, len(DIGITS))))
        if sigma[text[0]] != "0" and any(sigma[c] != c for c in used):
            break
    table = str.maketrans(sigma)

    def agrees(original: str, twin: str) -> bool:
        return twin.strip() == original.strip().translate(table)

    return [Twin(task.prompt(replace(p, digits=text.translate(table))), agrees)]


def _split_twins(task: Task, p: Any, rng: random.Random) -> list[Twin]:
    """s = u + v cut at a random point: the answers to u and to v must compose to the label.

    copy(s) = copy(u) + copy(v) and reverse(s) = reverse(v) + reverse(u). Unlike the digit
    permutation, the twins are *shorter* than s, where the model is reliable, so an answer of the
    wrong length or with a dropped or repeated character at the new length cannot pass. No twin
    when s cannot be cut (one character, or every later character is 0: v may not start with 0).
    """
    text = p.digits
    cuts = [i for i in range(1, len(text)) if text[i] != "0"]
    if not cuts:
        return []
    cut = rng.choice(cuts)
    u, v = text[:cut], text[cut:]
    backwards = task.name == "reverse"

    def part(start: int, length: int) -> Callable[[str, str], bool]:
        def agrees(original: str, twin: str) -> bool:
            original = original.strip()
            return len(original) == len(text) and original[start : start + length] == twin.strip()

        return agrees

    first, second = (part(len(v), len(u)), part(0, len(v))) if backwards else (part(0, len(u)), part(len(u), len(v)))
    return [Twin(task.prompt(replace(p, digits=u)), first), Twin(task.prompt(replace(p, digits=v)), second)]


# --- maze: relabel the nodes, reshuffle the lists ------------------------------------------------


def _maze_twins(task: Task, p: Any, rng: random.Random) -> list[Twin]:
    """The same tree under new distinct labels in 1..99 and a new node and neighbour order."""
    nodes = [node for node, _ in p.adjacency]
    original_prompt = task.prompt(p)
    while True:  # the odds of drawing the very same prompt are tiny, but then it says nothing
        sigma = dict(zip(nodes, rng.sample(range(1, 100), len(nodes))))
        order = rng.sample(p.adjacency, len(p.adjacency))
        adjacency = tuple(
            (sigma[node], tuple(sigma[n] for n in rng.sample(nbrs, len(nbrs))))
            for node, nbrs in order
        )
        twin = replace(p, start=sigma[p.start], end=sigma[p.end], adjacency=adjacency)
        if task.prompt(twin) != original_prompt:
            break

    def agrees(original: str, twin_answer: str) -> bool:
        path = original.strip().split(">")
        if not all(re.fullmatch(r"[1-9]\d*", x) and int(x) in sigma for x in path):
            return False  # a malformed path or an unknown node has no image under sigma
        return twin_answer.strip() == ">".join(str(sigma[int(x)]) for x in path)

    return [Twin(task.prompt(twin), agrees)]
