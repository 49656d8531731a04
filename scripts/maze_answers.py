"""What a maze run's model answers, per hop count: exact accuracy, how many hops its answers have,
and which of the task's checks (format, moves, end, repeat) they fail.

    .venv/bin/python scripts/maze_answers.py runs/maze0 --nodes 10 --hops 1-5 --n 200

It tells a base that has not learnt its range (wrong answers of every length) from one that caps
its answers at D0's longest path (every answer past it has exactly that many hops, and fails the
move check): docs/EXPERIMENTS.md M4-M6. The problems come from their own seed stream, disjoint
from training, labelling and evaluation. Ground truth scores them (an analysis, like evaluation).

``--forced F`` writes the first F hops of the true path after the prompt and lets the model go on
from there (the answer shown is that prefix and the model's continuation): a cap that is a count
of hops shows as answers of the capped length even when the rest of the path is short, a limit of
how far the model can see as answers that finish once the rest is short enough (M7). The prefix
is ground truth: analysis only.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
from pathlib import Path

from selfimprove.predict import load_round_model
from selfimprove.tasks.maze import MazeTask


def hop_range(text: str) -> list[int]:
    """``"1-5"`` -> [1, 2, 3, 4, 5]; ``"4"`` -> [4]."""
    low, _, high = text.partition("-")
    try:
        return list(range(int(low), int(high or low) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hops must be N or LOW-HIGH, got {text!r}") from None


def answer_profile(task: MazeTask, problems: list, answers: list[str]) -> dict:
    """Exact accuracy, the histogram of answer hop counts, and each check's failure count."""
    hops = collections.Counter(a.count(">") for a in answers)
    failed = collections.Counter(name for p, a in zip(problems, answers) for name, ok in task.checks(p, a).items() if not ok)
    right = sum(task.verify(p, a).ok for p, a in zip(problems, answers))
    return {"accuracy": right / len(problems), "answer_hops": dict(sorted(hops.items())), "failed": dict(sorted(failed.items()))}


def forced_answers(model: tuple, task: MazeTask, problems: list, forced: int) -> list[str]:
    """Each maze's true path up to its ``forced``-th hop (none for 0), then the greedy continuation
    of ``model`` = ``predict.load_round_model``'s (task, tokenizer, network, precision)."""
    from selfimprove.evaluate import decoding_bound
    from selfimprove.generate import Decoding, greedy_labels

    _, tok, net, precision = model
    prefixes = [">".join(task.solve(p).split(">")[:forced + 1]) + ">" if forced else "" for p in problems]
    prompts = [[tok.bos_id] + tok.encode(task.prompt(p) + pre) for p, pre in zip(problems, prefixes)]
    limits = [decoding_bound(task, task.difficulty(p)) - len(tok.encode(pre)) for p, pre in zip(problems, prefixes)]
    rows = greedy_labels(net, prompts, limits, tok.eos_id, tok.pad_id, Decoding(256, precision))
    return [pre + tok.decode(row) for pre, row in zip(prefixes, rows)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--nodes", type=int, required=True, help="tree size of the mazes asked")
    ap.add_argument("--hops", type=hop_range, default=hop_range("1-5"), help="hop counts asked, e.g. 1-5")
    ap.add_argument("--n", type=int, default=200, help="mazes per hop count")
    ap.add_argument("--round", type=int, default=None, help="which round's model (default: the latest)")
    ap.add_argument("--forced", type=int, default=0, help="write the true path's first F hops, the model goes on")
    args = ap.parse_args(argv)
    task = MazeTask()
    try:
        if args.hops and not 0 <= args.forced < min(args.hops):
            raise ValueError(f"--forced must be at least 0 and below every hop count asked, got {args.forced} for {min(args.hops)} hops")
        model = load_round_model(args.run_dir, args.round)  # once, for every hop count
        for hops in args.hops:
            rng = random.Random(f"maze-answers/{hops}/{args.nodes}")
            problems = [task.sample((hops, args.nodes), rng) for _ in range(args.n)]
            answers = forced_answers(model, task, problems, args.forced)
            print(json.dumps({"hops": hops, "nodes": args.nodes, "n": args.n, "forced": args.forced,
                              **answer_profile(task, problems, answers)}))
    except ValueError as err:  # a UserError (not a run, unfinished round, bad vocabulary)
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
