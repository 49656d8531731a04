"""Evaluation records validity per maze cell; the accuracy probe has its own problems and averages
the voting models. A stand-in ``answer`` replaces the model: these are tests of bookkeeping."""

from __future__ import annotations

import pytest

from selfimprove import evaluate as ev
from selfimprove.generate import Decoding
from selfimprove.tasks import get_task
from selfimprove.tokenizer import Tokenizer


@pytest.fixture
def oracle_answers(monkeypatch):
    """Model "good" answers with the oracle, model "bad" with nothing; records problem streams."""
    streams: list[str] = []
    real = ev.eval_problems

    def eval_problems(task, difficulty, n, seed, stream="eval"):
        streams.append(stream)
        return real(task, difficulty, n, seed, stream)

    def answer(model, task, tok, problems, decoding, progress=None):
        return [task.solve(p) if model == "good" else "" for p in problems]

    monkeypatch.setattr(ev, "eval_problems", eval_problems)
    monkeypatch.setattr(ev, "answer", answer)
    return streams


def test_maze_cells_record_format_move_and_end_validity(oracle_answers):
    task = get_task("maze")
    tok = Tokenizer.for_task(task)
    good = ev.evaluate("good", task, tok, [(3, 8)], n=4, seed=0, decoding=Decoding())[0]
    assert good["accuracy"] == 1.0 and good["checks"] == {"format": 1.0, "moves": 1.0, "end": 1.0, "repeat": 1.0}
    bad = ev.evaluate("bad", task, tok, [(3, 8)], n=4, seed=0, decoding=Decoding())[0]
    assert bad["accuracy"] == 0.0 and bad["checks"]["format"] == 0.0
    plain = ev.evaluate("good", get_task("copy"), Tokenizer.for_task(get_task("copy")), [3], n=2, seed=0, decoding=Decoding())[0]
    assert "checks" not in plain  # no verifier, nothing to record


def test_the_accuracy_probe_draws_its_own_problems_and_averages_the_models(oracle_answers):
    task = get_task("reverse_addition")
    tok = Tokenizer.for_task(task)
    probe = ev.accuracy_probe(["good", "bad", "good", "good"], task, tok, n=8, seed=0, round_=3,
                              decoding=Decoding(8, "fp32"))
    assert probe(5) == 0.75
    assert set(oracle_answers) == {"accuracy-probe/3"}  # never the evaluation's stream
    probed = ev.eval_problems(task, 5, 8, 0, "accuracy-probe/3")
    assert probed != ev.eval_problems(task, 5, 8, 0)
