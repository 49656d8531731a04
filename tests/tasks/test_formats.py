"""Every literal example of REFERENCE.md (and the paper's Table 1), character for character."""

from __future__ import annotations

import doctest

import pytest

from selfimprove import tokenizer
from selfimprove.tasks import get_task, maze, multiplication, strings

EXAMPLES = [
    ("reverse_addition", "21+543=", "7530"),
    ("reverse_addition", "99+1=", "001"),
    ("reverse_addition", "31558+91786=", "232451"),
    ("forward_addition", "85513+68719=", "154232"),
    ("copy", "12345=", "12345"),
    ("reverse", "12345=", "54321"),
    ("multiplication", "9172*9431=", "17442+067801(132331)+0075180(1398490)+00091720=13976630"),
    ("multiplication", "34895*148=", "348950+0273932(3653542)+00447874=36972305"),
    ("multiplication", "21*3=", "630=630"),
    ("multiplication", "5*7=", "53=53"),
    ("multiplication", "52*04=", "000+0001=0001"),
    ("multiplication", "321*501=", "5160+00000(51600)+003210=519210"),
    (
        "maze",
        "2>19#73:70,75-97:2,70-70:73,97,59-75:73,30,19-2:97-30:75-59:70-19:75=",
        "2>97>70>73>75>19",
    ),
]


@pytest.mark.parametrize(("name", "prompt", "answer"), EXAMPLES)
def test_reference_example(name: str, prompt: str, answer: str) -> None:
    task = get_task(name)
    problem = task.parse(prompt)
    assert task.prompt(problem) == prompt
    assert task.solve(problem) == answer
    assert task.verify(problem, answer).ok


@pytest.mark.parametrize(("name", "prompt", "answer"), EXAMPLES)
def test_fixed_length_formats_fill_the_bound_exactly(name: str, prompt: str, answer: str) -> None:
    task = get_task(name)
    bound = task.max_answer_len(task.difficulty(task.parse(prompt)))
    tokens = task.split(answer)
    assert len(tokens) <= bound if name == "forward_addition" else len(tokens) == bound


def test_reference_problems_are_the_stated_numbers() -> None:
    mult = get_task("multiplication")
    assert mult.parse("9172*9431=") == multiplication.Operands(2719, 1349)
    assert mult.parse("52*04=") == multiplication.Operands(25, 40)
    assert mult.difficulty(mult.parse("34895*148=")) == (5, 3)
    assert get_task("reverse").parse("12345=") == strings.Text("12345")
    example = get_task("maze").parse(EXAMPLES[-1][1])
    assert (example.start, example.end) == (2, 19)
    assert example.adjacency[2] == (70, (73, 97, 59))
    assert get_task("maze").difficulty(example) == (5, 8)


def test_maze_labels_are_single_tokens() -> None:
    tokens = get_task("maze").split("2>97>70>73>75>19")
    assert tokens == ["2", ">", "97", ">", "70", ">", "73", ">", "75", ">", "19"]


@pytest.mark.parametrize("module", [multiplication, strings, maze, tokenizer])
def test_docstring_examples(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
