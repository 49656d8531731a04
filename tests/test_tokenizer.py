"""Tokenizer: specials first, round trips for every task, clear errors, JSON round trip."""

from __future__ import annotations

import json
import random

import pytest

from selfimprove.tasks import get_task, task_names
from selfimprove.tasks.base import TaskError
from selfimprove.tokenizer import SPECIALS, Tokenizer

SMALL = {"multiplication": [(3, 2), (1, 6)], "maze": [(1, 2), (9, 30)]}


@pytest.mark.parametrize("name", task_names())
def test_round_trip_on_sampled_problems(name: str) -> None:
    task = get_task(name)
    tok = Tokenizer.for_task(task)
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    assert len(tok) == len(SPECIALS) + len(task.vocabulary())
    rng = random.Random(0)
    for difficulty in SMALL.get(name, [1, 7]):
        for _ in range(10):
            _check(task, tok, task.sample(difficulty, rng))


def _check(task, tok: Tokenizer, problem) -> None:
    text = task.prompt(problem) + task.solve(problem)
    ids = tok.encode(text)
    assert len(ids) == len(task.split(text))
    assert tok.decode(ids) == text
    assert tok.decode([tok.pad_id, tok.pad_id, tok.bos_id, *ids, tok.eos_id, 5, tok.pad_id]) == text


def test_maze_labels_are_one_token_each() -> None:
    tok = Tokenizer.for_task(get_task("maze"))
    ids = tok.encode("2>19#")
    assert [tok.tokens[i] for i in ids] == ["2", ">", "19", "#"]


@pytest.mark.parametrize(
    ("name", "text", "bad"),
    [
        ("copy", "12a=", "'a'"),
        ("maze", "1>100#", "'100'"),  # a number is one token, and 100 is not a label
        ("reverse_addition", "1+2=<eos>", "'<'"),  # specials are never spelled in text
    ],
)
def test_unknown_token_names_it(name: str, text: str, bad: str) -> None:
    with pytest.raises(TaskError, match=bad) as info:
        Tokenizer.for_task(get_task(name)).encode(text)
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_decode_rejects_ids_outside_the_vocabulary() -> None:
    tok = Tokenizer.for_task(get_task("copy"))
    with pytest.raises(ValueError, match="outside"):
        tok.decode([len(tok)])


@pytest.mark.parametrize("name", ["multiplication", "maze"])
def test_json_round_trip_keeps_ids(name: str) -> None:
    tok = Tokenizer.for_task(get_task(name))
    again = Tokenizer.from_json(json.loads(json.dumps(tok.to_json())), get_task(name))
    assert again.tokens == tok.tokens and len(again) == len(tok)
    text = "2>19#73:70,75=" if name == "maze" else "9172*9431=17442+0"
    assert again.encode(text) == tok.encode(text)


def test_stored_vocabulary_wins_over_the_task_order() -> None:
    data = Tokenizer.for_task(get_task("copy")).to_json()
    data["tokens"] = data["tokens"][:3] + list(reversed(data["tokens"][3:]))
    tok = Tokenizer.from_json(data, get_task("copy"))
    assert tok.encode("=") == [3]


def test_a_stored_vocabulary_is_refused_for_another_task() -> None:
    with pytest.raises(ValueError, match="task 'copy'.s, not 'reverse'.s"):
        Tokenizer.from_json(Tokenizer.for_task(get_task("copy")).to_json(), get_task("reverse"))
