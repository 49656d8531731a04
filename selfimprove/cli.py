"""The ``selfimprove`` command. Every subcommand is one function that makes one library call.

    $ selfimprove tasks
    $ selfimprove sample reverse_addition --difficulty 3 --n 2 --seed 0
    $ selfimprove solve multiplication 9172*9431=
    17442+067801(132331)+0075180(1398490)+00091720=13976630
    $ selfimprove verify maze '1>3#1:2-2:1,3-3:2=' '1>2>3'
    correct
    $ selfimprove sample my_tasks/sort.py --difficulty 4     # a task file (docs/EXTENDING.md)

Exit status: 0 success, 1 ``verify`` found the answer wrong, 2 bad input (one ``error:`` line
on stderr, no traceback). To add a subcommand, write ``cmd_<name>(args) -> int`` and one
``add_parser`` block in ``build_parser``; error handling is shared in ``main``. Imports of heavy
modules (torch) belong inside the subcommand functions, so the task subcommands start fast.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from selfimprove.errors import UserError
from selfimprove.tasks.base import Task, example_difficulty, parse_difficulty
from selfimprove.tasks.registry import build_task, get_task, task_names, task_source

# Errors that mean "the user asked for something impossible": reported in one line, exit 2.
USER_ERRORS: tuple[type[Exception], ...] = (UserError,)


def task_argument(text: str) -> Task:
    """A task name, or a task file ``FILE.py`` (``FILE.py:NAME`` when it registers several)."""
    if ".py:" in text:
        file, _, name = text.rpartition(".py:")
        return build_task(name, Path(file + ".py"))
    return build_task(None, Path(text)) if text.endswith(".py") else get_task(text)


def cmd_tasks(args: argparse.Namespace) -> int:
    """One line per task: name, difficulty axes, an example prompt and its answer (and where an
    installed task comes from)."""
    for name in task_names():
        task = get_task(name)
        problem = task.sample(example_difficulty(task), random.Random(0))
        axes = ",".join(task.axes)
        source = "" if task_source(name) == "built-in" else f"  ({task_source(name)})"
        print(f"{name:<17} {axes:<18} {task.prompt(problem)} -> {task.solve(problem)}{source}")
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    """``--n`` random problems of one difficulty as ``prompt<TAB>answer``; same seed, same lines."""
    task = task_argument(args.task)
    difficulty = task.check_difficulty(parse_difficulty(args.difficulty))
    rng = random.Random(args.seed)
    for _ in range(args.n):
        problem = task.sample(difficulty, rng)
        print(f"{task.prompt(problem)}\t{task.solve(problem)}")
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    task = task_argument(args.task)
    print(task.solve(task.parse(args.prompt)))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    task = task_argument(args.task)
    verdict = task.verify(task.parse(args.prompt), args.answer)
    print("correct" if verdict.ok else f"wrong ({verdict.check}): {verdict.reason}")
    return 0 if verdict.ok else 1


def cmd_run(args: argparse.Namespace) -> int:
    """Run (or resume) every round of a config, then write the report and print the headline."""
    from selfimprove.config import load_config
    from selfimprove.process import keep_freed_memory
    from selfimprove.report import summarize, write_report
    from selfimprove.rounds import run_rounds

    cfg = load_config(args.config, args.overrides)
    keep_freed_memory()  # fewer page faults; no effect on results
    out = Path(args.out) if args.out else Path("runs") / cfg.name
    print(f"run {cfg.name}: task {cfg.task.name}, {cfg.rounds.count} rounds, writing to {out}", flush=True)
    if args.base_round and not args.base:
        raise UserError("--base-round needs --base RUN (the run whose rounds are copied)")
    base = Path(args.base) if args.base else None
    run_rounds(cfg, out, log=lambda line: print(line, flush=True), base=base, base_round=args.base_round)
    report = write_report(out)
    print(f"report: {report}")
    print(summarize(out)["headline"])
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Greedy answers of a trained run's model for prompts read from stdin, one per line."""
    from selfimprove.predict import answer_prompts, load_round_model

    loaded = load_round_model(Path(args.run_dir), args.round, args.model)  # fail before reading stdin
    prompts = [line.strip() for line in sys.stdin if line.strip()]
    for answer in answer_prompts(*loaded, prompts):
        print(answer)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Write a finished round's model as a Hugging Face directory (``from_pretrained`` loads it)."""
    from selfimprove.export import export_run

    print(f"exported: {export_run(Path(args.run_dir), Path(args.to), args.round, args.model)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from selfimprove.report import summarize, write_report

    print(f"report: {write_report(Path(args.run_dir))}")
    print(summarize(Path(args.run_dir))["headline"])
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    """One instrument of ``selfimprove.analysis`` on a run (or sweep) folder; prints the JSON's path."""
    from selfimprove.analysis.dispatch import analyze

    print(f"wrote {analyze(args.what, Path(args.run_dir), args)}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run (or resume) every point of a sweep file, then summarise them."""
    from selfimprove.analysis.sweep import run_sweep

    path = run_sweep(Path(args.sweep), Path(args.out) if args.out else None, log=lambda line: print(line, flush=True),
                     at=parse_difficulty(args.at) if args.at else None)
    print(f"wrote {path}")
    return 0


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selfimprove", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub = commands.add_parser("tasks", help="list tasks, their difficulty axes and an example")
    sub.set_defaults(run=cmd_tasks)

    sub = commands.add_parser("sample", help="print random problems with their answers")
    sub.add_argument("task", help="task name (see `selfimprove tasks`) or a task file FILE.py")
    sub.add_argument("--difficulty", required=True, help="e.g. 12, or 5,6 for two axes")
    sub.add_argument("--n", type=non_negative, default=5, help="number of problems (default 5)")
    sub.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.set_defaults(run=cmd_sample)

    sub = commands.add_parser("solve", help="print the oracle answer to a prompt")
    sub.add_argument("task")
    sub.add_argument("prompt")
    sub.set_defaults(run=cmd_solve)

    sub = commands.add_parser("verify", help="check an answer; exit 0 if correct, 1 if not")
    sub.add_argument("task")
    sub.add_argument("prompt")
    sub.add_argument("answer")
    sub.set_defaults(run=cmd_verify)

    sub = commands.add_parser("run", help="run (or resume) a self-improvement experiment")
    sub.add_argument("config", help="a YAML config, e.g. configs/smoke.yaml")
    sub.add_argument("overrides", nargs="*", help="key=value overrides, e.g. rounds.count=3")
    sub.add_argument("--out", help="run directory (default runs/<config name>)")
    sub.add_argument("--base", help="take round 0 from this finished run (same seed/task/model/round0; a different eval grid re-scores it)")
    sub.add_argument("--base-round", type=non_negative, default=0, metavar="R",
                     help="with --base: take rounds 0..R (the configs may differ only in noise or random labels after R)")
    sub.set_defaults(run=cmd_run)

    sub = commands.add_parser("predict", help="answer prompts from stdin with a trained run's model")
    sub.add_argument("run_dir")
    sub.add_argument("--round", type=non_negative, default=None, help="default: the latest finished round")
    sub.add_argument("--model", type=non_negative, default=0, help="which of k voting models (default 0)")
    sub.set_defaults(run=cmd_predict)

    sub = commands.add_parser("export", help="write a trained run's model as a Hugging Face directory")
    sub.add_argument("run_dir")
    sub.add_argument("--to", required=True, help="a new folder for config.json, model.safetensors, tokenizer")
    sub.add_argument("--round", type=non_negative, default=None, help="default: the latest finished round")
    sub.add_argument("--model", type=non_negative, default=0, help="which of k voting models (default 0)")
    sub.set_defaults(run=cmd_export)

    sub = commands.add_parser("report", help="write report.md and plots for a run directory")
    sub.add_argument("run_dir")
    sub.set_defaults(run=cmd_report)

    sub = commands.add_parser("analyze", help="error analysis of a run: writes analysis/*.json and .png")
    sub.add_argument("what", choices=("errors", "carries", "memorised", "rescore", "sweep"))
    sub.add_argument("run_dir", help="a run directory (sweep: a sweep's output folder)")
    sub.add_argument("--round", type=non_negative, default=None,
                     help="errors/carries/rescore: which round (default latest); sweep with --x: the round whose accuracy is plotted")
    sub.add_argument("--eval", action="store_true", help="errors: also re-answer the evaluation problems")
    sub.add_argument("--digits", type=int, default=None, help="carries: digit count (default trained max + 1)")
    sub.add_argument("--n", type=int, default=None,
                     help="carries: problems per chain length (500); memorised: most labels per round (500); "
                          "rescore: problems per cell (1000)")
    sub.add_argument("--at", default=None, help="sweep: also tabulate accuracy at this difficulty")
    sub.add_argument("--x", default=None,
                     help="sweep: plot the accuracy --at against this override key (e.g. rounds.problems) or kept_accuracy")
    sub.add_argument("--group", default=None, help="sweep with --x: one line per value of this override key (e.g. seed)")
    sub.add_argument("--only", default=None, metavar="PATTERN", help="sweep with --x: only the points whose name matches (e.g. '*_at1')")
    sub.set_defaults(run=cmd_analyze)

    sub = commands.add_parser("sweep", help="run (or resume) every point of a sweep file, then summarise")
    sub.add_argument("sweep", help="a sweep YAML: config, overrides, points (see selfimprove/analysis/sweep.py)")
    sub.add_argument("--out", help="sweep folder (default runs/<sweep name>)")
    sub.add_argument("--at", default=None, help="also tabulate accuracy at this difficulty")
    sub.set_defaults(run=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one subcommand and returns its exit status (argparse's own errors return 2)."""
    try:
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        # argparse stops collecting `run`'s key=value overrides at the first option, so
        # `run CONFIG --out DIR key=value` leaves them over; take them, refuse anything else.
        overrides_left = all("=" in x and not x.startswith("-") for x in extra)
        if extra and overrides_left and getattr(args, "overrides", None) is not None:
            args.overrides = [*args.overrides, *extra]
        elif extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return args.run(args)
    except SystemExit as done:  # argparse exits on --help (0) and usage errors (2)
        return done.code if isinstance(done.code, int) else 0 if done.code is None else 2
    except USER_ERRORS as err:
        message = str(err).replace("\n", " ")  # one line, whatever the message holds
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
