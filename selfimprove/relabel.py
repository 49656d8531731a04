"""Relabelling: the newest self-labelled difficulties labelled again by the model that has since learnt them.

A filter keeps only the labels it can confirm, so a difficulty labelled where the model was weak (the demo
labels a new length at 10% agreement) trains on the part of it the weak model already answered right: the
problems it got wrong never get a label, and they are the ones it still gets wrong rounds later. With::

    rounds:
      relabel: {last: 2, problems: 5000, below: 0.9}

each round also labels ``problems`` fresh problems at each of the ``last`` self-labelled difficulties added
most recently (never round 0's: those have oracle labels) whose labels were kept at a share under ``below``
(1: every one not held in full. Labelling a difficulty again costs as much as labelling a new one, but a set
kept at 92-96% still leaves out what its labeller got wrong: relabelling only below 0.9 left such lengths at
97.6-98.9% where relabelling every round left them exact, docs/EXPERIMENTS.md V6), with the round's labellers
and filters. A difficulty whose labels were all kept is never labelled again: fresh labels replace only at a
larger kept share, so they would be thrown away (in the demo's runs most relabelled lengths were held in full
after their first replacement, docs/EXPERIMENTS.md V8). Where the
share of them the filters keep is higher than the share kept among the labels that difficulty trains on now,
the fresh kept labels replace those, inside the set that holds them, so each set keeps its place and weight in
the mixture. The comparison reads only what the filters kept (no ground truth): a model that is surer of a
difficulty than when it was labelled gets to label it again, one that has slipped does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from selfimprove.tasks.base import Difficulty, difficulty_from_json


@dataclass(frozen=True)
class Relabel:
    last: int = 0  # how many of the newest self-labelled difficulties each round labels again; 0: none
    problems: int = 5000  # fresh problems at each of them (per model)
    below: float = 1.0  # only those whose labels were kept at a share under this (label-free); 1: all not held in full

    def __post_init__(self) -> None:
        if self.last < 0 or self.problems < 1 or not 0 < self.below <= 1:
            raise ValueError(f"relabel needs last >= 0, problems >= 1 and below in (0, 1], got {self.last}, "
                             f"{self.problems}, {self.below}")

    def targets(self, self_labelled: list[Difficulty], new: list[Difficulty],
                held: Callable[[Difficulty], float] = lambda d: 0.0) -> list[Difficulty]:
        """The difficulties a round labels again: the ``last`` of ``self_labelled`` (in the order they were
        first labelled) whose ``held`` kept share is under ``below`` (so never one held in full, whose fresh
        labels could not replace its own), less those the schedule labels this round anyway."""
        recent = self_labelled[max(0, len(self_labelled) - self.last) :]
        return [d for d in recent if d not in new and held(d) < self.below]


def keep_rate(rows: list[dict]) -> float:
    """The share of ``rows`` the filters kept (0 for no rows)."""
    return sum(row["kept"] for row in rows) / len(rows) if rows else 0.0


class Holdings:
    """One owner's self-labelled rows, set by set (set r holds round r's labels), with the set that holds
    each difficulty: what a relabel replaces."""

    def __init__(self) -> None:
        self.rows: dict[int, list[dict]] = {}  # set index -> its rows, kept and dropped, in labelling order
        self.home: dict[Difficulty, int] = {}  # difficulty -> the set holding its labels

    def add(self, index: int, rows: list[dict]) -> None:
        """Round ``index``'s rows for difficulties it labelled for the first time (or again, by its schedule:
        then the newest set holds it)."""
        self.rows[index] = list(rows)
        for row in rows:
            self.home[difficulty_from_json(row["difficulty"])] = index

    def held_share(self, difficulty: Difficulty) -> float:
        """The share of ``difficulty``'s labels in its set that the filters kept."""
        rows = self.rows[self.home[difficulty]]
        return keep_rate([row for row in rows if difficulty_from_json(row["difficulty"]) == difficulty])

    def offer(self, difficulty: Difficulty, fresh: list[dict]) -> dict:
        """Replace ``difficulty``'s rows by ``fresh`` when the filters kept a larger share of them; returns what
        was decided (``replaced``, ``set``: the index of the set that changed or would have)."""
        index, held = self.home[difficulty], self.held_share(difficulty)
        others = [row for row in self.rows[index] if difficulty_from_json(row["difficulty"]) != difficulty]
        replaced = keep_rate(fresh) > held
        if replaced:
            self.rows[index] = others + list(fresh)
        return {"set": index, "replaced": replaced, "held_kept_fraction": held}
