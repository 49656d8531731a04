"""scripts/maze_answers.py: per hop count, a model's accuracy, its answers' hop counts and failed checks."""

import json
import random
from pathlib import Path

from selfimprove.cli import main as cli_main
from selfimprove.predict import load_round_model, predict
from selfimprove.tasks.maze import MazeTask

PRESET = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "maze_hops_nofilter.yaml"


def test_the_profile_counts_hops_and_failed_checks(load_script):
    profile = load_script("maze_answers").answer_profile
    task = MazeTask()
    rng = random.Random(0)
    problems = [task.sample((4, 8), rng) for _ in range(4)]
    right = [task.solve(p) for p in problems]
    # a 3-hop answer that ends at E through a non-edge: the cap M4 found
    capped = [">".join(a.split(">")[:3] + [a.split(">")[-1]]) for a in right]
    out = profile(task, problems, right[:2] + capped[2:])
    assert out["accuracy"] == 0.5 and out["answer_hops"] == {3: 2, 4: 2}
    assert out["failed"] == {"moves": 2}


def test_the_script_reads_a_runs_model_and_refuses_a_non_run(tmp_path, capsys, load_script):
    run = tmp_path / "maze"
    assert cli_main(["run", str(PRESET), "scale=tiny", "rounds.models=1", "rounds.count=0",
                     "threads=1", "--out", str(run)]) == 0
    capsys.readouterr()
    script = load_script("maze_answers")
    assert script.main([str(run), "--nodes", "8", "--hops", "2-3", "--n", "5"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert [x["hops"] for x in lines] == [2, 3]
    assert all(sum(x["answer_hops"].values()) == 5 and 0 <= x["accuracy"] <= 1 for x in lines)
    assert script.main([str(tmp_path), "--nodes", "8"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    # Forced: the true path's first hops are written for the model; every answer starts with them.
    task = MazeTask()
    problems = [task.sample((3, 8), random.Random(i)) for i in range(4)]
    model = load_round_model(run)
    answers = script.forced_answers(model, task, problems, 2)
    for p, a in zip(problems, answers):
        assert a.startswith(">".join(task.solve(p).split(">")[:3]) + ">")
    assert script.main([str(run), "--nodes", "8", "--hops", "2-3", "--n", "5", "--forced", "2"]) == 2
    assert "--forced must be" in capsys.readouterr().err
    # Nothing forced is the run's own answers, as `selfimprove predict` gives them.
    assert script.forced_answers(model, task, problems, 0) == predict(run, [task.prompt(p) for p in problems])
