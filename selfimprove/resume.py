"""Which experiment a run directory holds: config.yaml written once and compared on every resume,
and a run started from another run's finished round 0, or rounds 0..R (``--base``, ``--base-round``).

A rerun of the same command resumes (``rounds.py``); a different config in the same folder would
mix two experiments, so it is refused with the first difference named. Only ``RESUMABLE_KEYS``
may change, and the stored file is then rewritten with the new values.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from selfimprove import distributed
from selfimprove.config import ConfigError, RunConfig, config_from_dict, to_plain
from selfimprove.io import atomic_write_text, read_jsonl, read_yaml
from selfimprove.layout import RunDir

# Keys a resume may change: how fast (threads, device), how far (rounds.count extends a finished
# run or stops one earlier), and where the numbers are mirrored (log). Anything else would mix two experiments in one directory.
RESUMABLE_KEYS = (("threads",), ("device",), ("rounds", "count"), ("log",))

ROUND0_KEYS = ("seed", "task", "model", "round0")  # not threads: how fast, not what


def stored_config(path: Path) -> dict:
    """A run's config.yaml as plain YAML data, with keys added since it was written at their
    defaults (which keep the old behaviour); as written when it no longer loads."""
    try:
        return yaml.safe_load(yaml.safe_dump(to_plain(config_from_dict(read_yaml(path))), sort_keys=False))
    except ConfigError:
        return read_yaml(path)


def _without_resumable(config: dict) -> dict:
    config = json.loads(json.dumps(config))
    for *parents, key in RESUMABLE_KEYS:
        node = config
        for p in parents:
            node = node.get(p, {})
        node.pop(key, None)
    return config


def _first_difference(a, b, where: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
    return f"{where} ({a!r} there, {b!r} now)"


def prepare_run_dir(cfg: RunConfig, files: RunDir) -> None:
    """Write config.yaml, or refuse a run directory that holds a different experiment.

    Only ``RESUMABLE_KEYS`` may differ from the stored config; the stored file is then rewritten
    with the new values, so the report sees, e.g., the extended round count."""
    text = yaml.safe_dump(to_plain(cfg), sort_keys=False)
    if files.exists(files.config):
        # With defaults filled in, so a run made before a key existed still resumes.
        theirs, ours = stored_config(files.config), yaml.safe_load(text)
        if _without_resumable(theirs) != _without_resumable(ours):
            diff = _first_difference(_without_resumable(theirs), _without_resumable(ours))
            raise ConfigError(f"{files.path} holds a run with a different config (first difference: {diff}); "
                              f"use --out to start a new run there")
        if theirs != ours:
            files.write(files.config, text)
        return
    files.path.mkdir(parents=True, exist_ok=True)
    files.write(files.config, text)


def fork_base(cfg: RunConfig, files: RunDir, base: Path, through: int = 0) -> None:
    """Start ``files`` from the finished rounds 0..``through`` of run ``base`` (copied), so experiments
    that differ only after those rounds share them instead of each training its own: filters,
    schedules and round sizes after round 0 (``through=0``, checked on everything that decides round
    0), or label noise injected at a later round (``through=R``, checked on the whole config but
    the resumable keys, the name, and noise or random labels that start after round R).

    With ``through=0`` the ``eval`` section may differ: it does not touch round 0's model, only its
    scores. Round 0 is then copied without its DONE marker and with its eval.json kept as
    base_eval.json, so the round loop scores the copied model on this config's grid (training
    resumes at its last step: nothing is trained) and counts the base's minutes in its wall time."""
    theirs_dir = RunDir(Path(base), files.k)
    if files.exists(files.round(0)):
        return
    if through > cfg.rounds.count:
        raise ConfigError(f"--base-round {through} is past this run's last round ({cfg.rounds.count}); "
                          f"raise rounds.count or copy fewer rounds")
    if not theirs_dir.config.exists() or not all(theirs_dir.done(r).exists() for r in range(through + 1)):
        raise ConfigError(f"--base {base}: no finished round {through} there")
    theirs, ours = stored_config(theirs_dir.config), yaml.safe_load(yaml.safe_dump(to_plain(cfg), sort_keys=False))
    if through:
        _check_same_rounds(theirs, ours, base, through)
    else:
        _check_same_round0(theirs, ours, base)
    rescore = not through and theirs.get("eval") != ours["eval"]
    if distributed.is_main():
        _copy_rounds(theirs_dir, files, through, rescore)
        atomic_write_text(files.base, f"{Path(base).resolve()}\n" + (f"through round {through}\n" if through else ""))
    distributed.barrier()


def _check_same_round0(theirs: dict, ours: dict, base: Path) -> None:
    for key in ROUND0_KEYS:
        if theirs.get(key) != ours[key]:
            raise ConfigError(f"--base {base}: its '{key}' section differs from this config's, so its round 0 does not apply "
                              f"(first difference: {_first_difference(theirs.get(key), ours[key], key)})")
    for key in ("models", "voting"):
        if theirs["rounds"].get(key) != ours["rounds"][key]:
            raise ConfigError(f"--base {base}: rounds.{key} differs, so its round 0 does not apply")


# Injections that act only in the rounds their ``at`` lists (empty: every round).
LATER_ONLY_KEYS = ("noise", "random_labels")


def _up_to_round(config: dict, through: int) -> dict:
    """What decides rounds 0..through: the config without the resumable keys and the name, and
    without an injection that starts after round ``through``."""
    config = _without_resumable(config)
    config.pop("name", None)
    for key in LATER_ONLY_KEYS:
        injected = config["rounds"].get(key)
        if injected and injected.get("at") and min(injected["at"]) > through:
            config["rounds"][key] = None
    return config


def _check_same_rounds(theirs: dict, ours: dict, base: Path, through: int) -> None:
    a, b = _up_to_round(theirs, through), _up_to_round(ours, through)
    if a != b:
        raise ConfigError(f"--base {base}: its config differs from this one in a way that changes rounds 0-{through} "
                          f"(first difference: {_first_difference(a, b)}), so they do not apply")


def _copy_rounds(theirs: RunDir, files: RunDir, through: int, rescore: bool = False) -> None:
    """Copy the base's round folders 0..through and their metrics lines. Round 0 moves into place
    last: its presence means "forked", so a copy killed midway is redone, never half-used.
    ``rescore``: round 0 arrives unfinished, its scores set aside (base_eval.json) and not in the metrics."""
    files.path.mkdir(parents=True, exist_ok=True)
    staged = []
    for r in range(through + 1):
        tmp = files.path / f".{files.round(r).name}.copy"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(theirs.round(r), tmp)
        staged.append((tmp, files.round(r)))
    if rescore:
        round0 = staged[0][0]
        (round0 / theirs.eval(0).name).rename(round0 / files.base_eval.name)
        (round0 / theirs.done(0).name).unlink()
    if theirs.metrics.exists():
        lines = [] if rescore else [x for x in read_jsonl(theirs.metrics) if x.get("round", through + 1) <= through]
        atomic_write_text(files.metrics, "".join(json.dumps(x) + "\n" for x in lines))
    for tmp, target in reversed(staged):
        shutil.rmtree(target, ignore_errors=True)  # a folder a killed fork had moved already
        tmp.rename(target)
