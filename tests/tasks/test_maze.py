"""Maze generation follows the paper's listing and yields trees; each verifier check bites."""

from __future__ import annotations

import random

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfimprove.tasks import get_task
from selfimprove.tasks.base import TaskError
from selfimprove.tasks.maze import CHECKS, Maze, checks, random_tree

TASK = get_task("maze")
EXAMPLE = TASK.parse("2>19#73:70,75-97:2,70-70:73,97,59-75:73,30,19-2:97-30:75-59:70-19:75=")
DIFFICULTY = st.integers(2, 99).flatmap(lambda n: st.tuples(st.integers(1, n - 1), st.just(n)))


def as_graph(maze: Maze) -> nx.Graph:
    graph = nx.Graph()
    graph.add_nodes_from(node for node, _ in maze.adjacency)
    graph.add_edges_from((node, nbr) for node, nbrs in maze.adjacency for nbr in nbrs)
    return graph


@settings(max_examples=60, deadline=None)
@given(difficulty=DIFFICULTY, seed=st.integers(0, 2**32 - 1))
def test_sampled_maze_is_a_tree_with_a_path_of_hops_edges(difficulty, seed) -> None:
    hops, nodes = difficulty
    maze = TASK.sample(difficulty, random.Random(seed))
    labels = [node for node, _ in maze.adjacency]
    assert len(set(labels)) == len(labels) == nodes
    assert all(1 <= label <= 99 for label in labels)
    graph = as_graph(maze)
    assert nx.is_tree(graph) and graph.number_of_nodes() == nodes
    (path,) = nx.all_simple_paths(graph, maze.start, maze.end)  # exactly one path
    assert len(path) - 1 == hops
    assert TASK.solve(maze) == ">".join(map(str, path))


class ScriptedRng:
    """Returns scripted picks from ``choice`` and records what it was offered."""

    def __init__(self, picks: list[int]) -> None:
        self.picks, self.offered = list(picks), []

    def choice(self, options: list[int]) -> int:
        self.offered.append(list(options))
        return self.picks.pop(0)


def test_generator_follows_the_listing() -> None:
    # Spine 0-1; unplaced [2, 3, 4]. Node 4 walks to 3 (unplaced, so 3 leaves the list) and then
    # to 1 (placed). Only 4 becomes placed, so node 2's walk may end at 0, 1 or 4, never at 3.
    rng = ScriptedRng([3, 1, 4])
    edges = random_tree(1, 5, rng)  # type: ignore[arg-type]
    assert rng.offered == [[0, 1, 2, 3], [0, 1, 2], [0, 1, 4]]
    assert edges == [(0, 1), (4, 3), (3, 1), (2, 4)]


def test_extra_nodes_attach_anywhere() -> None:
    rng = random.Random(0)
    attachments = {frozenset(e for e in random_tree(1, 3, rng) if 2 in e) for _ in range(50)}
    assert attachments == {frozenset({(2, 0)}), frozenset({(2, 1)})}


def test_vocabulary_and_tokens() -> None:
    vocabulary = TASK.vocabulary()
    assert vocabulary[:3] == ["1", "2", "3"] and len(vocabulary) == 99 + 6
    assert set(">#:,-=") < set(vocabulary) and "0" not in vocabulary and "100" not in vocabulary
    assert TASK.split("12>3#") == ["12", ">", "3", "#"]
    assert TASK.max_answer_len((9, 30)) == 19


def corruptions(answer: str) -> dict[str, str]:
    """One wrong answer per check, wrong in that check only (needs a path of >= 2 hops)."""
    path = answer.split(">")
    return {
        "format": answer + ">",
        "moves": ">".join(path[:1] + path[2:]),  # skips a node: the jump is not an edge
        "end": ">".join(path[:-1]),  # stops one short
        "repeat": ">".join(path[:2] + path[:2] + path[2:]),  # walks back and forth once
    }


@settings(max_examples=40, deadline=None)
@given(difficulty=DIFFICULTY.filter(lambda d: d[0] >= 2), seed=st.integers(0, 2**32 - 1))
def test_each_check_detects_its_own_corruption(difficulty, seed) -> None:
    maze = TASK.sample(difficulty, random.Random(seed))
    assert checks(maze, TASK.solve(maze)) == dict.fromkeys(CHECKS, True)
    for broken, answer in corruptions(TASK.solve(maze)).items():
        result = checks(maze, answer)
        expected = {c: broken != "format" and c != broken for c in CHECKS}
        assert result == expected == TASK.checks(maze, answer), (broken, answer)
        assert TASK.verify(maze, answer).check == broken


def test_verify_does_not_call_the_oracle(monkeypatch) -> None:
    def oracle(problem):
        raise AssertionError("verify called solve")

    monkeypatch.setattr(type(TASK), "solve", oracle)
    assert TASK.verify(EXAMPLE, "2>97>70>73>75>19").ok
    assert TASK.verify(EXAMPLE, "2>97>70>59").check == "end"


def test_moves_check_rejects_unknown_labels() -> None:
    verdict = TASK.verify(EXAMPLE, "2>97>70>73>75>99>19")
    assert verdict.check == "moves" and "99 is not a node" in verdict.reason


@pytest.mark.parametrize(
    "prompt",
    [
        "1>2#1:2-2:1,3-3:2-4:5-5:4=",  # two components
        "1>3#1:2,3-2:1,3-3:1,2=",  # a cycle
        "1>2#1:2-2:3-3:2=",  # 2-1 listed at one end only
        "1>1#1:2-2:1=",  # start == end
        "1>5#1:2-2:1=",  # end is not a node
        "1>2#1:2-2:1-1:2=",  # node listed twice
        "1>100#1:100-100:1=",  # label out of range
        "01>2#01:2-2:01=",  # leading zero would not survive prompt(parse(p))
    ],
)
def test_parse_refuses_what_is_not_a_maze(prompt: str) -> None:
    with pytest.raises(TaskError):
        TASK.parse(prompt)
