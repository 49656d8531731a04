"""``selfimprove analyze errors``: the taxonomy of a run's mistakes (``taxonomy.py``), from the
wrong self-labels in ``labels.jsonl`` and, with ``eval_answers``, from the round model's answers
to the evaluation problems (re-answered from the checkpoint: ``eval.json`` keeps accuracies only).

Ground truth (``Task.solve``) is the reference for every comparison: diagnostics only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from selfimprove.analysis import common, figures
from selfimprove.tasks.base import HasChecks
from selfimprove.taxonomy import cot_error, first_wrong_step, summarise

FAMILIES = ("digits", "cot", "checks")


def family(task) -> str:
    """How a task's wrong answers are compared: the task's ``error_family`` when it declares one
    ("cot": chain-of-thought steps, multiplication), else by its named checks when it has them
    (the maze: a path has no digit positions), else digit by digit."""
    declared = getattr(task, "error_family", None)
    if declared is not None:
        if declared not in FAMILIES:
            raise ValueError(f"task {task.name!r}: error_family must be one of {FAMILIES}, got {declared!r}")
        return declared
    return "checks" if isinstance(task, HasChecks) else "digits"


def classify(task, pairs: list[tuple[str, str]]) -> dict:
    """``pairs`` of (prompt, answer) -> the taxonomy of the wrong answers among them."""
    problems = [task.parse(p) for p, _ in pairs]
    verdicts = [task.verify(problem, a) for problem, (_, a) in zip(problems, pairs)]
    wrong = [(problem, a) for problem, (_, a), v in zip(problems, pairs, verdicts) if not v.ok]
    out = {"answers": len(pairs), "wrong": len(wrong), "checks": dict(Counter(v.check for v in verdicts if not v.ok))}
    kind = family(task)
    if kind == "checks":  # the failed checks are the taxonomy
        out["failed"] = dict(Counter(name for problem, a in wrong for name in failed_checks(task, problem, a)))
        return out
    expected = [(task.solve(problem), a) for problem, a in wrong]
    # Of the whole answer text (for chain of thought: missing steps make it short, Fig 13).
    out["short_share"] = sum(len(a) < len(e) for e, a in expected) / len(expected) if expected else None
    if kind == "cot":
        out["steps"] = dict(Counter(cot_error(e, a) for e, a in expected))
        steps = [first_wrong_step(e, a) for e, a in expected]
        out["first_wrong_step"] = {str(k): c for k, c in sorted(Counter(s for s in steps if s is not None).items())}
        expected = [(e.split("=")[-1], a.split("=")[-1]) for e, a in expected]  # products, aligned below
    out["digits"] = summarise(expected)
    return out


def failed_checks(task, problem, answer: str) -> list[str]:
    """Every check a wrong answer fails (``verify`` names only the first): a maze path's invalid
    move and wrong end can come together. An unreadable answer is ``format`` alone."""
    failed = [name for name, ok in task.checks(problem, answer).items() if not ok]
    return ["format"] if "format" in failed else failed


def eval_pairs(run_dir: Path, cfg, task, r: int) -> list[tuple[str, str]]:
    """(prompt, answer) of round r's model 0 on the evaluation problems of eval.json's cells."""
    from selfimprove.evaluate import answer, eval_problems
    from selfimprove.generate import Decoding
    from selfimprove.predict import load_round_model

    _, tok, net, precision = load_round_model(run_dir, r, 0)
    record = common.eval_record(run_dir, r) or {}
    problems = [p for cell in record.get("cells", []) for p in
                eval_problems(task, _difficulty(cell["difficulty"]), cell["n"], cfg.seed)]
    answers = answer(net, task, tok, problems, Decoding(cfg.eval.batch_size, precision)) if problems else []
    return [(task.prompt(p), a) for p, a in zip(problems, answers)]


def _difficulty(value):
    return tuple(value) if isinstance(value, list) else value


def analyze_errors(run_dir: Path, round_: int | None = None, eval_answers: bool = False) -> Path:
    """errors.json: per round, the taxonomy of all wrong labels, of the kept ones, and (with
    ``eval_answers``) of round ``round_``'s evaluation answers; errors.png draws the latest."""
    cfg = common.run_config(run_dir)
    task = common.run_task(cfg)
    rounds: dict[str, dict] = {}
    for r in common.labelled_rounds(run_dir):
        rows = common.labels(run_dir, r)
        rounds[str(r)] = {"labels": classify(task, [(x["prompt"], x["label"]) for x in rows]),
                          "kept": classify(task, [(x["prompt"], x["label"]) for x in rows if x["kept"]])}
    shown = None
    if eval_answers:
        r = common.pick_round(run_dir, round_, common.finished(run_dir), "finished checkpoint")
        rounds.setdefault(str(r), {})["eval"] = classify(task, eval_pairs(run_dir, cfg, task, r))
        shown = (r, "eval")
    elif rounds:
        r = common.pick_round(run_dir, round_, [int(k) for k in rounds], "labels.jsonl")
        shown = (r, "labels")
    record = {"task": task.name, "family": family(task), "rounds": rounds,
              "shown": None if shown is None else {"round": shown[0], "source": shown[1]}}
    png = None
    if shown is not None:
        summary = rounds[str(shown[0])][shown[1]]
        png = figures.taxonomy_png(summary, f"{task.name}: wrong {'evaluation answers' if shown[1] == 'eval' else 'self-labels'},"
                                   f" round {shown[0]}")
    return common.save(run_dir, "errors", record, png)
