"""The task subcommands of the CLI: output, exit codes 0/1/2, one-line errors, no torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from selfimprove.cli import main
from selfimprove.tasks import get_task, parse_difficulty, task_names

MULT_PROMPT = "9172*9431="
MULT_ANSWER = "17442+067801(132331)+0075180(1398490)+00091720=13976630"
MAZE_PROMPT = "2>19#73:70,75-97:2,70-70:73,97,59-75:73,30,19-2:97-30:75-59:70-19:75="


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_tasks_lists_every_task_with_axes_and_a_solved_example(capsys) -> None:
    code, out, _ = run(capsys, "tasks")
    lines = out.splitlines()
    assert code == 0 and [line.split()[0] for line in lines] == task_names()
    for line in lines:
        name, axes, prompt, arrow, answer = line.split()
        task = get_task(name)
        assert axes == ",".join(task.axes) and arrow == "->"
        assert task.solve(task.parse(prompt)) == answer


@pytest.mark.parametrize(
    ("name", "difficulty"), [("copy", "12"), ("multiplication", "5,6"), ("maze", "9,30")]
)
def test_sample_prints_solved_prompts_reproducibly(capsys, name: str, difficulty: str) -> None:
    argv = ["sample", name, "--difficulty", difficulty, "--n", "4", "--seed"]
    code, out, _ = run(capsys, *argv, "7")
    assert code == 0 and len(out.splitlines()) == 4
    task = get_task(name)
    for line in out.splitlines():
        prompt, answer = line.split("\t")
        assert task.solve(task.parse(prompt)) == answer
        assert task.difficulty(task.parse(prompt)) == parse_difficulty(difficulty)
    assert run(capsys, *argv, "7")[1] == out
    assert run(capsys, *argv, "8")[1] != out


def test_solve_prints_the_oracle_answer(capsys) -> None:
    assert run(capsys, "solve", "multiplication", MULT_PROMPT) == (0, MULT_ANSWER + "\n", "")
    assert run(capsys, "solve", "maze", MAZE_PROMPT) == (0, "2>97>70>73>75>19\n", "")


def test_verify_exit_codes(capsys) -> None:
    assert run(capsys, "verify", "multiplication", MULT_PROMPT, MULT_ANSWER) == (0, "correct\n", "")
    code, out, err = run(capsys, "verify", "maze", MAZE_PROMPT, "2>70>73>75>19")
    assert code == 1 and err == "" and out == "wrong (moves): 2>70 is not an edge\n"
    code, out, _ = run(capsys, "verify", "multiplication", MULT_PROMPT, MULT_ANSWER[:-1] + "1")
    assert code == 1 and len(out.splitlines()) == 1 and "value" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "no_such_task", "--difficulty", "3"],
        ["sample", "copy", "--difficulty", "0"],
        ["sample", "copy", "--difficulty", "3,4"],
        ["sample", "maze", "--difficulty", "30,9"],
        ["sample", "multiplication", "--difficulty", "five"],
        ["solve", "multiplication", "91*72"],
        ["solve", "maze", "1>2#1:2-2:3="],
        ["verify", "copy", "0123=", "0123"],
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(capsys, argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("error: ")


def test_usage_errors_exit_2(capsys) -> None:
    assert run(capsys, "sample", "copy")[0] == 2  # --difficulty missing
    assert run(capsys, "sample", "copy", "--difficulty", "3", "--n", "-1")[0] == 2
    assert run(capsys, "--help")[0] == 0


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("selfimprove")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "selfimprove.cli"]
    return subprocess.run(
        [*command, *argv], check=False, capture_output=True, text=True, timeout=60
    )


def test_console_script_in_a_subprocess() -> None:
    done = cli("solve", "multiplication", MULT_PROMPT)
    assert (done.returncode, done.stdout, done.stderr) == (0, MULT_ANSWER + "\n", "")
    done = cli("verify", "multiplication", MULT_PROMPT, "1")
    assert done.returncode == 1 and done.stdout.startswith("wrong (format)")
    done = cli("solve", "maze", "1>2#")
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr


def test_module_entry_point_and_no_torch_import() -> None:
    code = (
        "import selfimprove.cli, sys; "
        "selfimprove.cli.main(['sample','copy','--difficulty','3']); "
        "assert 'torch' not in sys.modules"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 5
    done = subprocess.run(
        [sys.executable, "-m", "selfimprove.cli", "solve", "reverse", "123="],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "321\n")
