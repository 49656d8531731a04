"""The report's analysis sections: one per ``analysis/<name>.json`` that ``selfimprove analyze``
left in the run directory (nothing when there is none). Files only, no torch."""

from __future__ import annotations

import json
from pathlib import Path

from selfimprove.layout import RunDir


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f}%"


def _errors(rec: dict) -> list[str]:
    shown = rec.get("shown") or {}
    lines = ["| round | source | answers | wrong | short | failed checks |", "|---:|---|---:|---:|---:|---|"]
    for r, sources in sorted(rec["rounds"].items(), key=lambda kv: int(kv[0])):
        for source, s in sources.items():
            digits = s.get("digits") or {}
            checks = ", ".join(f"{k} {v}" for k, v in sorted(s["checks"].items())) or "—"
            lines.append(f"| {r} | {source} | {s['answers']} | {s['wrong']} | {_pct(digits.get('short_share'))} | {checks} |")
    figure = f"the figure shows round {shown.get('round')}'s {shown.get('source')}" if shown else "no figure"
    intro = ("Wrong answers aligned to the expected ones (ground truth, diagnostics only): `labels` are all "
             "self-labels, `kept` those the filters kept, `eval` the model's answers to the evaluation problems; "
             f"{figure}.")
    return [intro, ""] + lines


def _carries(rec: dict) -> list[str]:
    acc = rec["accuracy"]
    row = " | ".join(f"{k}: {_pct(v)}" for k, v in sorted(acc.items(), key=lambda kv: int(kv[0])))
    return [(f"Round {rec['round']} model on {rec['digits']}-digit additions, {rec['n']} problems per maximum "
             f"carry-chain length: {row}.")]


def _memorised(rec: dict) -> list[str]:
    lines = ["| round | kept-label acc. | labeller's acc. at those difficulties |", "|---:|---:|---:|"]
    lines += [f"| {x['round']} | {_pct(x['kept_accuracy'])} | {_pct(x['next_accuracy'])} |" for x in rec["data_vs_next"]]
    for r, later in rec["memorised"].items():
        shares = ", ".join(f"round {s}: {_pct(v['repeats_label'])}" for s, v in later.items())
        lines.append(f"\nRound {r}'s wrong kept labels repeated by later models: {shares}.")
    return lines


def _sweep(rec: dict) -> list[str]:
    lines = ["| point | overrides | final round | longest ≥ 99% | kept-label acc. |", "|---|---|---:|---:|---:|"]
    for p in rec["points"]:
        f = p["final"] or {}
        lines.append(f"| {p['name']} | `{' '.join(p['overrides'])}` | {f.get('round', '—')} | "
                     f"{f.get('longest_at_99', '—')} | {_pct(f.get('kept_accuracy'))} |")
    return lines


def _rescore(rec: dict) -> list[str]:
    rows = " | ".join(f"{c['difficulty']}: {_pct(c['accuracy'])} ({_pct(c['low'])}–{_pct(c['high'])})" for c in rec["cells"])
    return [(f"Round {rec['round']} scored again on {rec['n']} fresh problems a cell (95% Wilson intervals; the run "
             f"used {rec.get('run_n')}): longest at ≥ 99% **{rec['longest_at_99']}** (every interval's lower end "
             f"≥ 99%: {rec['longest_surely_at_99']}; the run's own evaluation read {rec['run_longest_at_99']})."),
            "", rows]


SECTIONS = (("errors", "Error taxonomy", _errors), ("carries", "Accuracy by carry-chain length", _carries),
            ("memorised", "Memorised mistakes and data accuracy", _memorised),
            ("rescore", "The round scored on more problems", _rescore), ("sweep", "Sweep", _sweep))


def analysis_sections(run_dir: Path) -> str:
    """Markdown for the analyses present (empty string when none)."""
    out: list[str] = []
    folder = RunDir(run_dir).analysis
    for name, title, render in SECTIONS:
        path = folder / f"{name}.json"
        if not path.exists():
            continue
        try:
            rec = json.loads(path.read_text())
            body = render(rec)
        except (ValueError, KeyError, TypeError) as err:  # an older or hand-edited file: say so, keep the report
            body = [f"analysis/{name}.json could not be read ({type(err).__name__}); rerun `selfimprove analyze {name}`."]
        out += ["", f"## {title}", ""] + body
        if (folder / f"{name}.png").exists():
            out += ["", f"![{title}](analysis/{name}.png)"]
    return "\n".join(out) + ("\n" if out else "")
