"""``selfimprove analyze carries``: a round model's accuracy by maximum carry-chain length (paper
Fig 30, ``carries.carry_problems``) and by the longest run of columns summing to 9
(``carries.nines_problems``), and the chain lengths of every round's training data (Fig 29:
D0 as round 0 drew it, then each round's kept self-labels). Tasks that add two numbers only
(``HasAddends``: ``addends(problem)`` and ``from_addends(a, b)``)."""

from __future__ import annotations

from pathlib import Path

from selfimprove.analysis import common, figures
from selfimprove.carries import carry_problems, fed, histogram, nines_problems
from selfimprove.config import ConfigError
from selfimprove.tasks.addition import Operands
from selfimprove.tasks.base import HasAddends


def training_histograms(run_dir: Path, cfg, task) -> dict[str, dict[str, int]]:
    from selfimprove.rounds import initial_problems

    def sums(problems) -> list[Operands]:
        return [Operands(*task.addends(p)) for p in problems]

    out = {"0": histogram(sums(initial_problems(task, cfg.round0, cfg.seed)))}  # model 0's D0
    for r in common.labelled_rounds(run_dir):
        kept = [task.parse(x["prompt"]) for x in common.labels(run_dir, r) if x["kept"] and x["model"] == 0]
        out[str(r)] = histogram(sums(kept))
    return {r: {str(k): c for k, c in h.items()} for r, h in out.items()}


def carry_accuracy(run_dir: Path, cfg, task, r: int, digits: int, n: int) -> dict[str, dict[str, float]]:
    """Exact-match accuracy of round r's model 0 on ``digits``-digit sums, n problems per length
    0..digits of two test sets: the maximum cascading-carry chain (``accuracy``) and the longest
    run of columns summing to 9 (``nines``: what a most-significant-first writer looks through),
    the latter also apart by whether a carry enters the run (``nines_fed``, ``nines_unfed``: about
    half of each length's problems each)."""
    from selfimprove.evaluate import answer
    from selfimprove.generate import Decoding
    from selfimprove.predict import load_round_model

    _, tok, net, precision = load_round_model(run_dir, r, 0)
    nines_sets = nines_problems(digits, range(digits + 1), n, cfg.seed)
    sets = {"accuracy": carry_problems(digits, range(digits + 1), n, cfg.seed), "nines": nines_sets}
    cells = [(name, length, [task.from_addends(p.a, p.b) for p in problems])
             for name, by_length in sets.items() for length, problems in by_length.items()]
    answers = answer(net, task, tok, [p for *_, problems in cells for p in problems],
                     Decoding(cfg.eval.batch_size, precision))  # one decoding pass for both sets
    out: dict[str, dict[str, float]] = {name: {} for name in (*sets, "nines_fed", "nines_unfed")}
    for i, (name, length, problems) in enumerate(cells):
        right = [task.verify(p, a).ok for p, a in zip(problems, answers[i * n:(i + 1) * n])]
        out[name][str(length)] = sum(right) / n
        if name == "nines" and length:  # the same answers, apart by whether a carry enters the run
            entered = [fed(q.a, q.b) for q in nines_sets[length]]
            for key, want in (("nines_fed", True), ("nines_unfed", False)):
                mine = [ok for ok, was in zip(right, entered) if was is want]
                if mine:
                    out[key][str(length)] = sum(mine) / len(mine)
    return out


def analyze_carries(run_dir: Path, digits: int | None = None, n: int = 500, round_: int | None = None) -> Path:
    """carries.json / carries.png; ``digits`` defaults to one beyond the round's trained maximum."""
    cfg = common.run_config(run_dir)
    task = common.run_task(cfg)
    if not isinstance(task, HasAddends):
        raise ConfigError(f"carry chains exist for tasks that add two numbers (addends, from_addends) only, not {task.name!r}")
    r = common.pick_round(run_dir, round_, common.finished(run_dir), "finished checkpoint")
    if digits is None:
        trained = (common.eval_record(run_dir, r) or {}).get("trained") or [cfg.round0.high]
        digits = max(trained) + 1
    if digits < 1 or n < 1:
        raise ConfigError(f"--digits and --n must be >= 1, got {digits} and {n}")
    record = {"task": task.name, "round": r, "digits": digits, "n": n,
              **carry_accuracy(run_dir, cfg, task, r, digits, n),
              "training": training_histograms(run_dir, cfg, task)}
    return common.save(run_dir, "carries", record, figures.carries_png(record))
