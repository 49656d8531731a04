"""Markdown report and plots from a run directory's files alone (``selfimprove report RUN_DIR``).

Works on a run that is still going: rounds without ``DONE``, a newest round with no files yet, a
round with ``eval.json`` but no ``filter_stats.json``. Only a folder with nothing evaluated at all
is an error (``ReportError``). Outputs, all written atomically:

    RUN_DIR/report.md              headline, one table row per round, the plots, notes on gaps
    RUN_DIR/plots/accuracy.png     accuracy vs difficulty per round (2-D: along the n x n diagonal)
    RUN_DIR/plots/rounds.png       self-labelled data accuracy, keep rate, longest at >= 99%
    RUN_DIR/plots/losses.png       every training step's loss, rounds in order (round_XXX/losses.jsonl)
    RUN_DIR/plots/heatmap_round_XXX.png   2-D tasks only: up to four rounds' accuracy grids

>>> longest_at({1: 1.0, 2: 0.995, 3: 0.97, 4: 1.0})   # the dip at 3 stops the count
2
>>> longest_at({(1, 1): 1.0, (1, 2): 1.0, (2, 1): 1.0, (2, 2): 0.99, (3, 1): 0.2})
2
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from selfimprove.errors import UserError
from selfimprove.io import atomic_write_bytes, atomic_write_text
from selfimprove.layout import RunDir
from selfimprove.rundir import Key, RoundInfo, RunData, load_run, spans, to_key
from selfimprove.tasks.base import axis_labels
from selfimprove.tasks.registry import build_task

__all__ = ["ReportError", "longest_at", "summarize", "write_report"]

_MAX_HEATMAPS = 4


class ReportError(UserError):
    """No report can be made (missing folder, nothing evaluated yet): a user error, one line."""


def longest_at(cells: Mapping[Any, float] | Iterable[Mapping[str, Any]],
               threshold: float = 0.99) -> int | None:
    """Largest difficulty reached with accuracy >= ``threshold`` at it and everything below it.

    ``cells`` is ``{difficulty: accuracy}`` or ``eval.json``'s list of ``{"difficulty",
    "accuracy", ...}``; difficulties are ints or int lists/tuples. Returns ``None`` when even the
    easiest evaluated difficulty misses the threshold (or there are no cells).

    * ints: the largest ``d`` such that every evaluated ``d' <= d`` passes; a dip stops the count.
    * tuples where exactly one coordinate varies (maze hops at fixed nodes): that coordinate, 1-D.
    * otherwise: the largest evaluated diagonal ``n`` such that every cell with all coordinates
      ``<= n`` passes (multiplication: every a x b with a, b <= n).
    """
    acc = ({to_key(k): float(v) for k, v in cells.items()} if isinstance(cells, Mapping)
           else {to_key(c["difficulty"]): float(c["accuracy"]) for c in cells})
    # Accuracies are k/n floats; 198/200 must count as 0.99, not lose an ulp to rounding.
    ok = {k: a >= threshold - 1e-9 for k, a in acc.items()}
    if not ok:
        return None
    keys = list(ok)
    if all(isinstance(k, int) for k in keys):
        return _prefix(ok)
    if not all(isinstance(k, tuple) for k in keys) or len({len(k) for k in keys}) != 1:
        raise ValueError("longest_at: difficulties mix ints and tuples of different lengths")
    varying = [i for i in range(len(keys[0])) if len({k[i] for k in keys}) > 1]
    if len(varying) == 1:
        return _prefix({k[varying[0]]: v for k, v in ok.items()})
    best = None
    for n in sorted({k[0] for k in keys if len(set(k)) == 1}):
        if not all(v for k, v in ok.items() if max(k) <= n):
            break  # a failing cell below n also lies below every larger n
        best = n
    return best


def _prefix(ok: Mapping[int, bool]) -> int | None:
    best = None
    for d in sorted(ok):
        if not ok[d]:
            break
        best = d
    return best


def summarize(run_dir: Path | str) -> dict[str, Any]:
    """Headline numbers of a run (JSON-ready); ``headline`` is the one-line human form."""
    return _summary(_load(Path(run_dir)))


def write_report(run_dir: Path | str) -> Path:
    """Write ``report.md`` and ``plots/*.png`` into ``run_dir``; return the report's path."""
    from selfimprove import plots  # matplotlib loads only when a report is actually made
    from selfimprove.analysis.sections import analysis_sections

    run_dir = Path(run_dir)
    run, files = _load(run_dir), RunDir(run_dir)
    title, grid = f"{run.task} · {run.name}", _is_grid(run)
    images: list[tuple[str, str]] = []

    def save(name: str, caption: str, png: bytes) -> None:
        atomic_write_bytes(files.plot(name), png)
        images.append((caption, files.plot(name).relative_to(files.path).as_posix()))

    curve = _curve_view(run)
    if curve is not None:
        xlabel, project = curve
        curves = [(r.index, _project(r.cells, project)) for r in run.evaluated]
        latest = run.evaluated[-1]
        trained = [x for k in latest.trained if (x := project(k)) is not None]
        save("accuracy.png", "Accuracy by difficulty, one line per round",
             plots.accuracy_png(curves, trained, latest.index, f"{title}: accuracy by round",
                                xlabel))
    rows = [{"round": r.index, "label_accuracy": r.label_accuracy, "keep_rate": r.keep_rate,
             "kept_accuracy": r.kept_accuracy, "right_kept": r.right_kept, "longest": longest_at(r.cells),
             "waited": r.index > 0 and r.labelled == 0}
            for r in run.evaluated]
    ylabel = "largest n×n at ≥ 99%" if grid else "longest difficulty at ≥ 99%"
    save("rounds.png", "Self-labelled data and reach per round",
         plots.rounds_png(rows, f"{title}: per-round diagnostics", ylabel, reference=not grid))
    if grid:
        axes = _axis_names(run)
        base = set(run.rounds[0].trained) if run.rounds[0].index == 0 else set()
        chosen = _pick_rounds(run.evaluated)
        for r in chosen:
            cells = {k: a for k, a in r.cells.items() if isinstance(k, tuple)}
            own = [k for k in r.trained if isinstance(k, tuple) and k not in base]
            save(f"heatmap_round_{r.index:03d}.png", f"Accuracy grid, round {r.index}",
                 plots.heatmap_png(cells, base, own, f"{title}: round {r.index}", axes))
        keep = {f"heatmap_round_{r.index:03d}.png" for r in chosen}
        for old in files.plots.glob("heatmap_round_*.png"):
            if old.name not in keep:
                old.unlink()  # a stale grid from an earlier report would contradict this one

    losses = _model0_losses(files)
    if losses:
        save("losses.png", "Training loss at every step, rounds in order (model 0)",
             plots.losses_png(losses, f"{title}: training loss"))

    path = files.report
    # Sections for whatever `selfimprove analyze` left in analysis/ (nothing when it never ran).
    atomic_write_text(path, _markdown(run, _summary(run), images) + analysis_sections(run_dir))
    return path


def _model0_losses(files: RunDir) -> list[tuple[int, list[float]]]:
    """Each round's model-0 losses from its losses.jsonl; a round without one (or with a corrupted
    one: the report still draws the rest) is left out."""
    from selfimprove.loss_log import read_losses

    out = []
    for r in files.rounds():
        try:
            per_model = read_losses(files.losses(r)) if files.losses(r).exists() else {}
        except ValueError:
            continue
        if per_model.get(0):
            out.append((r, [v for _, v in per_model[0]]))
    return out


def _load(run_dir: Path) -> RunData:
    try:
        run = load_run(run_dir)
    except FileNotFoundError as err:
        raise ReportError(str(err)) from None
    if not run.evaluated:
        raise ReportError(f"nothing evaluated in {run_dir}: no round_*/eval.json yet")
    return run


def _is_grid(run: RunData) -> bool:
    """True for 2-D difficulties where both coordinates vary (multiplication's a x b)."""
    keys = [k for r in run.evaluated for k in r.cells]
    return (all(isinstance(k, tuple) and len(k) == 2 for k in keys)
            and all(len({k[i] for k in keys}) > 1 for i in (0, 1)))


def _axis_names(run: RunData) -> tuple[str, ...]:
    """The task's own names for its axes (``axis_labels``, else ``axes``); generic ones when the
    task cannot be built here (a name this install lacks, a task file left on another machine)."""
    section = run.config.get("task")
    section = section if isinstance(section, dict) else {}
    path, options = section.get("path"), section.get("options") or {}
    try:
        task = build_task(section.get("name") or run.task, Path(path) if path else None, options)
    except (UserError, TypeError):  # TypeError: a hand-edited config.yaml with odd options
        return ("difficulty[0]", "difficulty[1]")
    return axis_labels(task)


def _curve_view(run: RunData) -> tuple[str, Any] | None:
    """How to draw accuracy as a line: x-axis label and a difficulty -> x projection.

    ints are drawn as they are; tuples with one varying coordinate along it; grids along the
    diagonal n x n (the paper's headline cells), or not at all with fewer than two diagonal cells.
    """
    keys = {k for r in run.evaluated for k in r.cells}
    if all(isinstance(k, int) for k in keys):
        return "difficulty", lambda k: k if isinstance(k, int) else None
    if not all(isinstance(k, tuple) for k in keys) or len({len(k) for k in keys}) != 1:
        return None  # mixed shapes: no single x-axis makes sense
    varying = [i for i in range(len(next(iter(keys)))) if len({k[i] for k in keys}) > 1]
    if len(varying) == 1:
        i, names = varying[0], _axis_names(run)
        return names[i] if i < len(names) else f"difficulty[{i}]", lambda k: k[i]
    if len({k[0] for k in keys if len(set(k)) == 1}) < 2:
        return None
    return "n (accuracy on n × n cells)", lambda k: k[0] if len(set(k)) == 1 else None


def _project(cells: Mapping[Key, float], project: Any) -> dict[int, float]:
    return {x: a for k, a in cells.items() if (x := project(k)) is not None}


def _pick_rounds(rounds: list[RoundInfo]) -> list[RoundInfo]:
    """Round 0, the last round and evenly spaced ones between, at most ``_MAX_HEATMAPS``."""
    n = len(rounds)
    m = min(n, _MAX_HEATMAPS)
    picks = sorted({round(i * (n - 1) / (m - 1)) for i in range(m)}) if m > 1 else [0]
    return [rounds[i] for i in picks]


def fmt_difficulties(keys: Iterable[Key]) -> str:
    """``[1..16] -> "1–16"``; a full grid -> ``"1–5 × 1–5"``; other cells listed, 6 at most."""
    ks = sorted(set(keys), key=lambda k: k if isinstance(k, tuple) else (k,))
    if not ks:
        return "—"
    if all(isinstance(k, int) for k in ks):
        return ", ".join(f"{a}–{b}" if b > a else str(a) for a, b in spans(ks))  # type: ignore
    axes = [sorted({k[i] for k in ks}) for i in range(len(ks[0]))]  # type: ignore[index]
    full = all(len(s) == s[-1] - s[0] + 1 for s in axes) and len(ks) == math.prod(map(len, axes))
    if full and len(ks) > 1:
        return " × ".join(f"{s[0]}–{s[-1]}" if len(s) > 1 else str(s[0]) for s in axes)
    text = ", ".join("×".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in ks[:6])
    return text + (f", … (+{len(ks) - 6})" if len(ks) > 6 else "")


def fmt_duration(seconds: float | None) -> str:
    """``75 -> "1 min 15 s"``, ``7260 -> "2 h 01 min"``; ``None -> "—"``."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _summary(run: RunData) -> dict[str, Any]:
    ev, grid = run.evaluated, _is_grid(run)
    longest = [(r.index, longest_at(r.cells)) for r in ev]
    best_round, best = max(longest, key=lambda t: (t[1] or 0, -t[0]))
    r0 = run.rounds[0] if run.rounds[0].index == 0 else None
    done = [r.index for r in run.rounds if r.done]
    pending = [r.index for r in run.rounds if not r.done]
    walls = [r.wall_time_s for r in run.rounds if r.wall_time_s is not None]

    def reach(n: int | None) -> str:
        return "none" if n is None else f"{n}×{n}" if grid else str(n)

    trained0 = fmt_difficulties(r0.trained) if r0 and r0.trained else "?"
    text = f"longest at ≥ 99%: {reach(longest[-1][1])} (round {longest[-1][0]}"
    text += f"; best {reach(best)} at round {best_round})" if best != longest[-1][1] else ")"
    status = f"rounds done: {len(done)}"
    if done and done[0] == 0:
        status += f" (round 0 + {len(done) - 1} self-improvement)"
    if pending:
        status += f"; in progress: round {', '.join(map(str, pending))}"
    headline = " · ".join([f"round 0 trained on {trained0}", text, status,
                           f"wall time {fmt_duration(max(walls) if walls else None)}"])
    return {"name": run.name, "task": run.task, "rounds_done": len(done),
            "rounds_in_progress": pending, "last_round": ev[-1].index, "step": ev[-1].step,
            "trained_round0": [list(k) if isinstance(k, tuple) else k
                               for k in (r0.trained if r0 else [])],
            "longest_at_99": longest[-1][1], "best_longest_at_99": best, "best_round": best_round,
            "wall_time_s": max(walls) if walls else None, "headline": headline}


def _fmt_filter(spec: Mapping[str, Any]) -> str:
    """``{"kind": "consistency", "shifts": 1}`` -> ``"consistency (shifts 1)"``."""
    options = ", ".join(f"{k} {v}" for k, v in spec.items() if k != "kind")
    return f"{spec.get('kind')}" + (f" ({options})" if options else "")


def _fmt_probe(probe: Mapping[Key, float]) -> str:
    if not probe:
        return "—"
    return ", ".join(f"{fmt_difficulties([k])}: {v:.2f}" for k, v in probe.items())


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _markdown(run: RunData, summary: dict[str, Any], images: list[tuple[str, str]]) -> str:
    cfg, grid = run.config, _is_grid(run)
    rounds_cfg = cfg.get("rounds") if isinstance(cfg.get("rounds"), dict) else {}
    filters = [_fmt_filter(f) for f in rounds_cfg.get("filters") or [] if isinstance(f, dict)]
    schedule = rounds_cfg.get("schedule")
    facts = [f"task `{run.task}`", f"config `{run.name}`",
             f"filters: {', '.join(map(str, filters)) or 'none'}" if "filters" in rounds_cfg
             else "", f"schedule: {schedule.get('kind')}" if isinstance(schedule, dict) else "",
             f"models voting: {rounds_cfg['models']}" if "models" in rounds_cfg else ""]
    out = [f"# Self-improvement report: {run.name}", "", " · ".join(f for f in facts if f), "",
           f"**Headline:** {summary['headline']}", "", "## Rounds", "",
           ("| round | status | step | probe | trained this round | labelled | kept % | label acc. "
            "| kept-label acc. | right labels kept | longest ≥ 99% | wall time |"),
           "|---:|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in run.rounds:
        n = longest_at(r.cells) if r.evaluated else None
        reach = "—" if not r.evaluated else "none" if n is None else f"{n}×{n}" if grid else n
        status = "done" if r.done else "in progress" if r is run.rounds[-1] else "not done"
        cols = [r.index, status, "—" if r.step is None else r.step, _fmt_probe(r.probe),
                fmt_difficulties(r.sampled),
                "—" if r.labelled is None else r.labelled, _pct(r.keep_rate),
                _pct(r.label_accuracy), _pct(r.kept_accuracy), _pct(r.right_kept), reach,
                fmt_duration(r.wall_time_s)]
        out.append("| " + " | ".join(map(str, cols)) + " |")
    # The threshold comes from probe.json: the config may leave it at the schedule's default.
    probed = [r for r in run.rounds if r.probe]
    kinds = sorted({str(r.probe_kind) for r in probed})
    marks = sorted({str(r.probe_threshold) + ("" if r.probe_first_threshold is None else
                                              f", {r.probe_first_threshold} for the first untrained difficulty")
                    for r in probed})
    probe_note = (" The probe column is what the schedule measured at each difficulty it tried "
                  f"({' / '.join(kinds)}; threshold {' / '.join(marks)})." if probed else "")
    out += ["", ("Label accuracies compare self-generated labels with ground truth; they are "
                 "diagnostics only and never select data. Wall time is cumulative." + probe_note),
            "", "## Plots"]
    for caption, rel in images:
        out += ["", f"### {caption}", "", f"![{caption}]({rel})"]
    if run.notes:
        out += ["", "## Notes", ""] + [f"- {note}" for note in run.notes]
    return "\n".join(out) + "\n"
