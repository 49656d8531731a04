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


@pytest.mark.parametrize("name, difficulty", [("maze", (1, 8)), ("maze", (3, 8)), ("copy", 5),
                                              ("reverse_addition", 4), ("multiplication", (3, 2))])
def test_an_answer_that_does_not_stop_is_wrong_even_when_it_starts_right(monkeypatch, name, difficulty):
    """A model that writes the right answer and then goes on (no EOS) must not be cut back to the
    right answer by the decoding bound: with the bound at ``max_answer_len`` a 1-hop maze answered
    ``S>E>...`` was scored right (the bug behind the overstated 1-hop accuracies, issue 11)."""
    task = get_task(name)
    tok = Tokenizer.for_task(task)
    problems = ev.eval_problems(task, difficulty, 6, seed=0, stream="eval")
    right = {tuple([tok.bos_id] + tok.encode(task.prompt(p))): tok.encode(task.solve(p)) for p in problems}
    stops = {"flag": True}

    def greedy_labels(model, prompts, limits, eos_id, pad_id, decoding, progress=None):
        outs = []
        for prompt, limit in zip(prompts, limits):
            answer = right[tuple(prompt)]
            assert limit > len(answer)  # room to show whether the model stops
            outs.append(answer if stops["flag"] else (answer + answer * limit)[:limit])
        return outs

    monkeypatch.setattr(ev, "greedy_labels", greedy_labels)
    assert ev.evaluate(None, task, tok, [difficulty], n=6, seed=0, decoding=Decoding())[0]["accuracy"] == 1.0
    stops["flag"] = False
    assert ev.evaluate(None, task, tok, [difficulty], n=6, seed=0, decoding=Decoding())[0]["accuracy"] == 0.0
    assert all(ev.decoding_bound(task, task.difficulty(p)) == task.max_answer_len(task.difficulty(p)) + 1
               for p in problems)
