"""Shortest path in a tree-shaped maze.

The prompt is ``S>E#`` followed by every node, in random order, as ``label:`` and its
neighbours in random order joined by ``,``; entries are joined by ``-`` and closed by ``=``. The
answer is the unique path from S to E, labels joined by ``>`` (paper, Table 1)::

    prompt "2>19#73:70,75-97:2,70-70:73,97,59-75:73,30,19-2:97-30:75-59:70-19:75="
    answer "2>97>70>73>75>19"

Labels are distinct integers in 1..99 and each is ONE token (``split`` reads ``\\d+|.``), so the
answer above is 11 tokens: 6 labels and 5 ``>``. Difficulty is ``(hops, nodes)``: the path has
``hops`` edges and the tree ``nodes`` nodes (example: (5, 8)).

Generation follows the paper's listing (appendix C.2.3): a spine path of ``hops`` edges from
start to end, then each remaining node starts a random walk that steps uniformly among the placed
and unplaced nodes until it reaches a placed one; the walk's edges join the tree. Only the walk's
first node becomes a walk target for later walks; its other nodes leave the unplaced list (they
are in the tree, as inner nodes of the walk) but are never targets again.

Verification needs no oracle: ``checks`` tests format, moves (each hop is an edge), end (starts
at S, stops at E) and repeat (no node twice). In a tree the only such path is the shortest one.

The consistency twin (``selfimprove.consistency``) is the same tree under new labels and a new
node and neighbour order; its answer must be the label's path relabelled.
"""

from __future__ import annotations

import random
import re
from collections import deque
from dataclasses import dataclass, replace
from itertools import pairwise

from selfimprove.tasks.base import CORRECT, Difficulty, TaskError, Twin, Verdict
from selfimprove.tasks.registry import register

MAX_LABEL = 99  # labels are single tokens 1..99, so a maze has at most 99 nodes
CHECKS = ("format", "moves", "end", "repeat")


@dataclass(frozen=True)
class Maze:
    """Start, end and the adjacency lists in prompt order: ``((label, (neighbour, ...)), ...)``."""

    start: int
    end: int
    adjacency: tuple[tuple[int, tuple[int, ...]], ...]


def check_maze_difficulty(difficulty: Difficulty) -> tuple[int, int]:
    """``(hops, nodes)`` with ``1 <= hops < nodes <= 99``; a JSON list is accepted too."""
    if isinstance(difficulty, list):
        difficulty = tuple(difficulty)
    if not (isinstance(difficulty, tuple) and len(difficulty) == 2):
        raise TaskError(f"maze difficulty must be 'hops,nodes', got {difficulty!r}")
    hops, nodes = difficulty
    if not (isinstance(hops, int) and isinstance(nodes, int) and 1 <= hops < nodes <= MAX_LABEL):
        raise TaskError(f"maze needs 1 <= hops < nodes <= {MAX_LABEL}, got {hops},{nodes}")
    return hops, nodes


def random_tree(hops: int, nodes: int, rng: random.Random) -> list[tuple[int, int]]:
    """Edges of a random tree on ``0..nodes-1`` whose path from 0 to ``hops`` is ``0, 1, .., hops``.

    Walks rather than attaching each node to one random placed node, because the paper builds its
    mazes this way and the trees' shape (how deep and branchy) should match its experiments.
    """
    edges = [(i, i + 1) for i in range(hops)]
    placed = list(range(hops + 1))
    unplaced = list(range(hops + 1, nodes))
    while unplaced:
        walk = [unplaced.pop()]
        while walk[-1] not in placed:
            step = rng.choice(placed + unplaced)
            walk.append(step)
            if step in unplaced:
                unplaced.remove(step)
        edges.extend(pairwise(walk))
        placed.append(walk[0])
    return edges


def neighbours(maze: Maze) -> dict[int, tuple[int, ...]]:
    return dict(maze.adjacency)


def tree_path(graph: dict[int, tuple[int, ...]], start: int, end: int) -> list[int]:
    """The path from ``start`` to ``end`` (breadth first, so the shortest in any graph)."""
    parent = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in graph.get(node, ()):
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    if end not in parent:
        raise TaskError(f"maze has no path from {start} to {end}")
    path = [end]
    while path[-1] != start:
        path.append(parent[path[-1]])
    return path[::-1]


def read_label(text: str, prompt: str) -> int:
    if not re.fullmatch(r"[1-9]\d*", text) or int(text) > MAX_LABEL:
        raise TaskError(f"malformed prompt {prompt!r}: label {text!r} is not in 1..{MAX_LABEL}")
    return int(text)


def check_tree(maze: Maze, prompt: str) -> None:
    """Raises ``TaskError`` unless the adjacency lists describe a tree containing S and E."""
    graph = neighbours(maze)
    if len(graph) != len(maze.adjacency):
        raise TaskError(f"malformed prompt {prompt!r}: a node is listed twice")
    for node, nbrs in maze.adjacency:
        for nbr in nbrs:
            if nbr == node or node not in graph.get(nbr, ()) or nbrs.count(nbr) > 1:
                why = f"edge {node}-{nbr} is not listed once at each end"
                raise TaskError(f"malformed prompt {prompt!r}: {why}")
    if maze.start == maze.end or maze.start not in graph or maze.end not in graph:
        raise TaskError(f"malformed prompt {prompt!r}: start and end must be two nodes of the maze")
    edges = sum(len(nbrs) for nbrs in graph.values()) // 2
    # A graph with n nodes, n - 1 edges and everything reachable from one node is a tree.
    reachable = {maze.start}
    frontier = [maze.start]
    while frontier:
        new = [n for node in frontier for n in graph[node] if n not in reachable]
        reachable.update(new)
        frontier = new
    if edges != len(graph) - 1 or len(reachable) != len(graph):
        raise TaskError(f"malformed prompt {prompt!r}: the maze is not a tree")


def failures(maze: Maze, answer: str) -> dict[str, str]:
    """Each check's name -> why it fails ("" when it passes). A malformed answer fails them all."""
    if not re.fullmatch(r"[1-9]\d*(>[1-9]\d*)*", answer):
        why = f"answer {answer!r} is not node labels joined by '>'"
        return {"format": why, **{name: "unreadable answer" for name in CHECKS[1:]}}
    path = [int(label) for label in answer.split(">")]
    graph = neighbours(maze)
    moves = next((f"{n} is not a node" for n in path if n not in graph), "")
    hops = pairwise(path)
    moves = moves or next((f"{a}>{b} is not an edge" for a, b in hops if b not in graph[a]), "")
    end = "" if (path[0], path[-1]) == (maze.start, maze.end) else (
        f"path runs from {path[0]} to {path[-1]}, expected {maze.start} to {maze.end}"
    )
    repeat = next((f"node {n} is visited twice" for n in path if path.count(n) > 1), "")
    return {"format": "", "moves": moves, "end": end, "repeat": repeat}


def checks(maze: Maze, answer: str) -> dict[str, bool]:
    """``{"format", "moves", "end", "repeat"}`` -> passed? All true means the answer is correct.

    >>> maze = Maze(1, 3, ((1, (2,)), (2, (1, 3)), (3, (2,))))
    >>> checks(maze, "1>3")
    {'format': True, 'moves': False, 'end': True, 'repeat': True}
    """
    return {name: not why for name, why in failures(maze, answer).items()}


class MazeTask:
    """Shortest path in a random tree; verifiable without the oracle."""

    name = "maze"
    axes = ("hops", "nodes")
    example = (3, 6)
    check_names = CHECKS  # what a `verifier` filter's `checks` may name

    def vocabulary(self) -> list[str]:
        return [str(label) for label in range(1, MAX_LABEL + 1)] + list(">#:,-=")

    def split(self, text: str) -> list[str]:
        return re.findall(r"\d+|.", text, flags=re.DOTALL)

    def check_difficulty(self, difficulty: Difficulty) -> tuple[int, int]:
        return check_maze_difficulty(difficulty)

    def sample(self, difficulty: Difficulty, rng: random.Random) -> Maze:
        hops, nodes = check_maze_difficulty(difficulty)
        edges = random_tree(hops, nodes, rng)
        labels = rng.sample(range(1, MAX_LABEL + 1), nodes)
        graph: dict[int, list[int]] = {node: [] for node in range(nodes)}
        for a, b in edges:
            graph[a].append(b)
            graph[b].append(a)
        order = list(range(nodes))
        rng.shuffle(order)
        adjacency = []
        for node in order:
            nbrs = graph[node][:]
            rng.shuffle(nbrs)
            adjacency.append((labels[node], tuple(labels[n] for n in nbrs)))
        return Maze(labels[0], labels[hops], tuple(adjacency))

    def sample_initial(self, low: Difficulty, high: Difficulty, rng: random.Random) -> Maze:
        """Hops uniform in ``[low_h, high_h]``, nodes in ``[low_n, high_n]``; combos with
        ``hops >= nodes`` are redrawn, so the result is uniform over the valid combos."""
        (lo_h, lo_n), (hi_h, hi_n) = (_bound(low), _bound(high))
        if lo_h > hi_h or lo_n > hi_n or lo_h >= hi_n:
            raise TaskError(f"no maze difficulty with hops < nodes between {low!r} and {high!r}")
        while True:
            hops, nodes = rng.randint(lo_h, hi_h), rng.randint(lo_n, hi_n)
            if hops < nodes:
                return self.sample((hops, nodes), rng)

    def difficulty(self, problem: Maze) -> tuple[int, int]:
        path = tree_path(neighbours(problem), problem.start, problem.end)
        return len(path) - 1, len(problem.adjacency)

    def prompt(self, problem: Maze) -> str:
        entries = "-".join(f"{node}:{','.join(map(str, nbrs))}" for node, nbrs in problem.adjacency)
        return f"{problem.start}>{problem.end}#{entries}="

    def parse(self, prompt: str) -> Maze:
        match = re.fullmatch(r"(\d+)>(\d+)#(\d+:\d+(?:,\d+)*(?:-\d+:\d+(?:,\d+)*)*)=", prompt)
        if match is None:
            raise TaskError(f"malformed prompt {prompt!r}: expected S>E#node:nbr,nbr-node:nbr=")
        start, end, body = match.groups()
        adjacency = []
        for entry in body.split("-"):
            node, nbrs = entry.split(":")
            labels = tuple(read_label(n, prompt) for n in nbrs.split(","))
            adjacency.append((read_label(node, prompt), labels))
        maze = Maze(read_label(start, prompt), read_label(end, prompt), tuple(adjacency))
        check_tree(maze, prompt)
        return maze

    def solve(self, problem: Maze) -> str:
        return ">".join(map(str, tree_path(neighbours(problem), problem.start, problem.end)))

    def checks(self, problem: Maze, answer: str) -> dict[str, bool]:
        """The module's ``checks`` as a method, so filters can ask any task for its checks."""
        return {name: not why for name, why in failures(problem, answer).items()}

    def verify(self, problem: Maze, answer: str) -> Verdict:
        """The first failed check among format, moves, end, repeat; never calls ``solve``."""
        for name, why in failures(problem, answer).items():
            if why:
                return Verdict(False, name, why)
        return CORRECT

    def max_answer_len(self, difficulty: Difficulty) -> int:
        hops, _ = check_maze_difficulty(difficulty)
        return 2 * hops + 1  # hops + 1 labels and hops ">"

    def twins(self, p: Maze, rng: random.Random) -> list[Twin]:
        """The same tree under new distinct labels in 1..99 and a new node and neighbour order."""
        nodes = [node for node, _ in p.adjacency]
        original_prompt = self.prompt(p)
        while True:  # the odds of drawing the very same prompt are tiny, but then it says nothing
            sigma = dict(zip(nodes, rng.sample(range(1, MAX_LABEL + 1), len(nodes))))
            order = rng.sample(p.adjacency, len(p.adjacency))
            adjacency = tuple(
                (sigma[node], tuple(sigma[n] for n in rng.sample(nbrs, len(nbrs))))
                for node, nbrs in order
            )
            twin = replace(p, start=sigma[p.start], end=sigma[p.end], adjacency=adjacency)
            if self.prompt(twin) != original_prompt:
                break

        def agrees(original: str, twin_answer: str) -> bool:
            path = original.strip().split(">")
            if not all(re.fullmatch(r"[1-9]\d*", x) and int(x) in sigma for x in path):
                return False  # a malformed path or an unknown node has no image under sigma
            return twin_answer.strip() == ">".join(str(sigma[int(x)]) for x in path)

        return [Twin(self.prompt(twin), agrees)]


def _bound(value: Difficulty) -> tuple[int, int]:
    if isinstance(value, list):
        value = tuple(value)
    if not (isinstance(value, tuple) and len(value) == 2 and all(type(v) is int for v in value)):
        raise TaskError(f"maze difficulty bound must be 'hops,nodes', got {value!r}")
    hops, nodes = value
    if not (1 <= hops and nodes <= MAX_LABEL):
        raise TaskError(f"maze bound needs hops >= 1 and nodes <= {MAX_LABEL}, got {value!r}")
    return hops, nodes


register("maze", lambda **options: MazeTask(**options))
