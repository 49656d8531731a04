"""The typed, validated experiment config: a YAML file plus ``key=value`` overrides.

Every section is a frozen dataclass whose field comments are the documentation. Loading checks
every key and type at the edge and names the offending key, so a typo fails in the first second
of a run and not an hour into it::

    cfg = load_config("configs/smoke.yaml", ["rounds.count=2", "round0.train.steps=100"])
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union

import yaml

from selfimprove.curriculum import Curriculum
from selfimprove.cycles import Cycles
from selfimprove.errors import UserError
from selfimprove.filters import FILTERS, Filter, declared_twins
from selfimprove.loggers import LogSection
from selfimprove.noise import LabelNoise, RandomLabels
from selfimprove.prelude import Prelude
from selfimprove.registry import Registry, as_config
from selfimprove.relabel import Relabel
from selfimprove.schedules import AGREEMENT, SCHEDULES, Schedule, default_schedule
from selfimprove.tasks.base import Difficulty, HasChecks, Task
from selfimprove.tasks.registry import DEFAULT_TASK, build_task, file_tasks
from selfimprove.train import TrainConfig
from selfimprove.voting import VARIANTS as VOTING_VARIANTS
from selfimprove.voting import Voting


class ConfigError(UserError):
    """A malformed config: one line naming the key and what is wrong with it."""


@dataclass(frozen=True)
class TaskSection:
    # One of `selfimprove tasks`, or one of the tasks the file `path` registers. null: the
    # default task, or with a path the file's only task. Loading fills it in.
    name: str | None = None
    # A Python file defining a task (docs/EXTENDING.md), run as your own code. Relative: to the
    # config file's folder (a key=value override: to the working directory). Loading makes it
    # absolute, so the run directory's config.yaml finds it again from anywhere.
    path: str | None = None
    options: dict = field(default_factory=dict)  # task constructor options, e.g. independent_lengths

    def build(self) -> Task:
        """The task itself (a file's task is loaded once per process)."""
        name = self.name if self.name is not None or self.path is not None else DEFAULT_TASK
        return build_task(name, Path(self.path) if self.path is not None else None, self.options)


@dataclass(frozen=True)
class LoraSection:
    """LoRA adapters of a pretrained model (``backend: hf``); the paper's Llama-1B values."""

    r: int = 64  # adapter rank
    alpha: float = 128.0  # scale alpha / r
    dropout: float = 0.0  # on the adapter's input; masks are drawn from the batch (hf_backend.py)
    targets: list = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])


@dataclass(frozen=True)
class ModelSection:
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    mlp_hidden: int = 1536
    rope: bool = False  # False = NoPE (the paper); True only for comparisons
    # Std of the normal init of every weight (residual projections get it / sqrt(2 n_layer)).
    # Not part of the architecture: a model.init_from run may have been initialised otherwise.
    init_std: float = 0.02
    init_from: str | None = None  # a finished run whose final model starts round 0 (init_from.py)
    backend: str = "native"  # native: the model above | hf: a local pretrained model + LoRA (hf_backend.py)
    path: str | None = None  # backend hf: a local AutoModelForCausalLM folder (config.json, weights, tokenizer)
    lora: LoraSection = field(default_factory=LoraSection)  # backend hf only

    def architecture(self) -> dict:
        """The fields that shape the network: ``ModelConfig(vocab_size=V, **architecture())``."""
        return {k: getattr(self, k) for k in ("n_layer", "n_head", "n_embd", "mlp_hidden", "rope")}


@dataclass(frozen=True)
class Round0Section:
    low: Difficulty = 1  # easiest difficulty of the oracle-labelled data D0
    high: Difficulty = 16  # hardest difficulty of D0 (the paper's d0)
    examples: int = 200_000  # size of D0
    # D0's weight among the older sets under rounds.mixture = levels; None = its number of
    # difficulty cells (25 for 1..5 x 1..5). The authors' code counts 5 there and 1 for maze hops.
    levels: int | None = None
    # null: every batch mixes all of D0. {start, steps_per_level, frontier_fraction}: D0's levels
    # open one at a time, the newest taking a fixed share of each batch (curriculum.py).
    curriculum: Curriculum | None = None
    # null: round 0 is round0.train's schedule. {max, steps, warmup_steps, decay_steps, mastery}: while D0 is not
    # mastered at the end of it, up to max more warmup-stable-decay cycles on the same model (cycles.py).
    cycles: Cycles | None = None
    # null: round 0 trains on all of D0 from the start. {high, steps, batch_size, lr, warmup_steps, decay_steps,
    # candidates}: first a prelude on D0's range cut at `high`, on small batches (with candidates > 1, that many
    # draws side by side, the first to master it kept), then round0.train on all of D0 (prelude.py, candidates.py).
    prelude: Prelude | None = None
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class RoundsSection:
    count: int = 10  # self-improvement rounds after round 0
    problems: int = 10_000  # fresh problems labelled per round (per model)
    problems_per: str = "round"  # round: `problems` spread over the round's difficulties; difficulty: `problems` at each
    schedule: Annotated[Schedule, SCHEDULES] = field(default_factory=default_schedule)  # see schedules.py
    filters: tuple[Annotated[Filter, FILTERS], ...] = ()  # applied in order; see filters.py
    models: int = 1  # k models (majority voting needs k > 1)
    # k > 1 models decode (label, probe, evaluate) and, in rounds >= 1, train as one stacked model
    # (ensemble.py, stacked_rounds.py): k times fewer operations, the same numbers up to the last
    # bits. auto = on a GPU, where a small model's step is launch-bound; on a CPU the products
    # dominate and stacking saves nothing measurable (configs/README.md).
    stacked: bool | str = "auto"
    # independent | shared_data | shared_init | shared_d0 | more_data (paper B.2.4; voting.py).
    # shared_init: one initialisation and one D0, each model its own batch order; shared_d0: one
    # D0, each model its own initialisation and order (Fig. 15).
    voting: str = "independent"
    newest_fraction: float = 0.5  # share of each batch from the newest round
    # How the older sets share the rest of a batch: levels = in proportion to their difficulty
    # levels (the authors' code); uniform = one equal share each (paper §3's text); size = in
    # proportion to their sizes (uniform over the older examples pooled).
    mixture: str = "levels"
    keep_round0: bool = True  # rounds >= 1 train on D0 too; False: on D1..Dr only (paper C.3.2, copy/reverse)
    probe_problems: int = 256  # problems per difficulty probed by accelerated schedules
    label_batch_size: int = 256
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1500, decay_steps=1500))
    # Round r >= 1 peaks at train.lr * lr_decay^(r-1): a falling peak for lengths that grow with the rounds (a
    # round's long answers break at a peak the short ones take; docs/EXPERIMENTS.md session 33). 1: train.lr each round.
    lr_decay: float = 1.0
    # null: each difficulty trains on the labels of the round that first labelled it. {last, problems}: every
    # round also labels `problems` fresh problems at each of the `last` newest self-labelled difficulties, and
    # the fresh labels replace the old ones where the filters kept a larger share of them (relabel.py); with
    # `below: b`, only the difficulties whose labels were kept at a share under b. One whose labels were all kept is
    # never labelled again (its fresh labels could not replace them).
    relabel: Relabel | None = None
    noise: LabelNoise | None = None  # label noise in kept labels, {kind, p, at: [rounds]}; see noise.py
    random_labels: RandomLabels | None = None  # kept labels replaced by random ones, {p, at}; see noise.py

    @property
    def k(self) -> int:
        """Models trained, checkpointed and voting each round: ``models``, or one with voting
        ``more_data`` (a single model labels k times the problems instead)."""
        return self.variant.models_trained(self.models)

    @property
    def variant(self) -> Voting:
        """What ``voting`` means for the round loop (voting.py)."""
        return VOTING_VARIANTS[self.voting]


@dataclass(frozen=True)
class EvalSection:
    low: Difficulty = 1  # evaluation grid: every difficulty between low and high, per axis
    high: Difficulty = 30
    ahead: int = 0  # also evaluate this many difficulties beyond the trained maximum (1-D)
    n: int = 200  # problems per difficulty cell
    batch_size: int = 256
    trained: bool = False  # 1-D: also evaluate every trained difficulty (the ahead window sits above them)
    precision: str | None = None  # labelling, probes and evaluation: auto | bf16 | fp32; None = rounds.train.precision


@dataclass(frozen=True)
class RunConfig:
    name: str = "run"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # CPU intra-op threads; 0 = torch's default (all cores)
    # full, or tiny: shrink model, data, steps, rounds (2) and evaluation to seconds while keeping
    # every code path (votes, filters, grids, probes); see selfimprove/scale.py.
    scale: str = "full"
    task: TaskSection = field(default_factory=TaskSection)
    model: ModelSection = field(default_factory=ModelSection)
    round0: Round0Section = field(default_factory=Round0Section)
    rounds: RoundsSection = field(default_factory=RoundsSection)
    eval: EvalSection = field(default_factory=EvalSection)
    log: LogSection = field(default_factory=LogSection)  # optional mirrors of the metrics (loggers.py)

    def to_dict(self) -> dict:
        return to_plain(self)


VOTING = tuple(VOTING_VARIANTS)
CHOICES = {  # keys with a fixed set of values
    "scale": ("full", "tiny"), "rounds.voting": VOTING, "rounds.problems_per": ("round", "difficulty"),
    "rounds.mixture": ("levels", "uniform", "size"), "eval.precision": (None, "auto", "bf16", "fp32"),
    "rounds.stacked": (True, False, "auto"),
}


def to_plain(value: Any) -> Any:
    """Dataclasses -> dicts, tuples -> lists, a filter or schedule -> its config mapping: what
    YAML and JSON can hold."""
    config = as_config(value)
    if config is not None:
        return to_plain(config)
    if dataclasses.is_dataclass(value):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against the type ``hint``; build nested dataclasses."""
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping of its fields, got {value!r}")
        return _build(hint, value, key)
    if typing.get_origin(hint) is Annotated:  # a filter or schedule: its registry parses it
        registry = next(m for m in hint.__metadata__ if isinstance(m, Registry))
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping like {registry.example}, got {value!r}")
        try:
            return registry.parse(value)
        except ValueError as err:
            raise ConfigError(f"{key}: {err}") from None
    if hint == Difficulty:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
        raise ConfigError(f"{key} must be an integer or a list of integers, got {value!r}")
    origin = typing.get_origin(hint)
    if origin is tuple and typing.get_args(hint)[-1:] == (Ellipsis,):  # a list in YAML
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return tuple(_coerce(v, typing.get_args(hint)[0], f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (Union, types.UnionType):
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        if value is None and len(options) < len(typing.get_args(hint)):
            return None
        if len(options) == 1:  # X | None: X's own message says what is wrong with the value
            return _coerce(value, options[0], key)
        for option in options:
            try:
                return _coerce(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"{key} has the wrong type: {value!r}")
    expected = origin or hint
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is float and isinstance(value, str):
        # YAML 1.1 reads 5e-4 (no dot) as a string; accept what a person means by it.
        try:
            return float(value)
        except ValueError:
            pass
    if expected is type(None):
        if value is None:
            return None
        raise ConfigError(f"{key} must be null")
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{key} must be {getattr(expected, '__name__', expected)}, got {value!r}")
    return value


def _build(cls: type, data: dict, prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    names = {f.name for f in dataclasses.fields(cls)}
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if any(name not in data for name in required):
        missing = ", ".join(name for name in required if name not in data)
        raise ConfigError(f"{prefix or 'config'} needs {missing} (known keys here: {', '.join(sorted(names))})")
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            raise ConfigError(f"unknown config key {path!r}; known keys here: {', '.join(sorted(names))}")
        kwargs[key] = _coerce(value, hints[key], path)
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise ConfigError(f"{prefix or 'config'}: {err}") from None


def apply_override(data: dict, assignment: str) -> None:
    """``"rounds.train.steps=500"`` -> data["rounds"]["train"]["steps"] = 500 (value parsed as YAML)."""
    if "=" not in assignment:
        raise ConfigError(f"override {assignment!r} must look like key=value, e.g. rounds.count=3")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
    node[parts[-1]] = yaml.safe_load(raw)


def config_from_dict(data: dict) -> RunConfig:
    """The validated config of plain data (a relative ``task.path`` is the working directory's)."""
    from selfimprove.scale import apply_scale

    cfg = apply_scale(_build(RunConfig, data))
    cfg = dataclasses.replace(cfg, task=resolve_task(cfg.task))
    validate(cfg)
    return cfg


def resolve_task(section: TaskSection) -> TaskSection:
    """``path`` made absolute and ``name`` filled in, as config.yaml stores them."""
    from selfimprove.tasks import TaskError

    if section.path is None:
        return section if section.name is not None else dataclasses.replace(section, name=DEFAULT_TASK)
    path = Path(os.path.abspath(Path(section.path).expanduser()))
    try:
        names = sorted(file_tasks(path))
    except TaskError as err:
        raise ConfigError(f"task.path: {err}") from None
    name = section.name
    if name is None and len(names) > 1:
        raise ConfigError(f"task.path: {path} registers {', '.join(names)}: choose one with task.name")
    return dataclasses.replace(section, path=str(path), name=names[0] if name is None else name)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a YAML config, apply ``key=value`` overrides, validate. Errors are ``ConfigError``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    data.setdefault("name", path.stem)
    task = data.get("task")
    if isinstance(task, dict) and isinstance(task.get("path"), str):
        # Next to the config file, wherever the command runs; an override's path is the shell's.
        task["path"] = os.path.join(path.parent, os.path.expanduser(task["path"]))
    for assignment in overrides:
        apply_override(data, assignment)
    return config_from_dict(data)


def validate(cfg: RunConfig) -> None:
    """Cross-field checks that need the task, schedule and filter registries."""
    from selfimprove.tasks import TaskError

    try:
        task = cfg.task.build()
    except TaskError as err:
        raise ConfigError(f"{'task.path / ' if cfg.task.path else ''}task.name / task.options: {err}") from None
    for key in ("round0.low", "round0.high", "eval.low", "eval.high"):
        try:
            task.check_difficulty(_get(cfg, key))
        except TaskError as err:
            raise ConfigError(f"{key}: {err}") from None
    for section in ("round0", "eval"):
        low, high = (_axes(_get(cfg, f"{section}.{k}")) for k in ("low", "high"))
        if len(low) != len(high) or any(a > b for a, b in zip(low, high)):
            raise ConfigError(f"{section}.low {list(low)} must be <= {section}.high {list(high)} on every axis")
    for cell in itertools.product(*(range(a, b + 1) for a, b in zip(_axes(cfg.eval.low), _axes(cfg.eval.high)))):
        try:  # e.g. a maze cell with hops >= nodes inside the grid
            task.check_difficulty(cell[0] if len(cell) == 1 else cell)
        except TaskError as err:
            raise ConfigError(f"eval.low..eval.high holds an impossible cell {list(cell)}: {err}") from None
    for key, least in MINIMUM.items():
        if _get(cfg, key) < least:
            raise ConfigError(f"{key} must be >= {least}, got {_get(cfg, key)}")
    if not DEVICE.fullmatch(cfg.device):
        raise ConfigError(f"device must be auto, cpu, mps, cuda or cuda:N, got {cfg.device!r}")
    for key, allowed in CHOICES.items():
        if _get(cfg, key) not in allowed:
            names = ", ".join(str(a).replace("None", "null") for a in allowed)
            raise ConfigError(f"{key} must be one of {names}, got {_get(cfg, key)!r}")
    if cfg.round0.levels is not None and cfg.round0.levels < 1:
        raise ConfigError(f"round0.levels must be >= 1 or null, got {cfg.round0.levels}")
    curriculum = cfg.round0.curriculum
    if curriculum is not None and curriculum.pace == "mastery" and curriculum.check_every % cfg.round0.train.bucket:
        raise ConfigError(f"round0.curriculum.check_every ({curriculum.check_every}) must be a multiple of "
                          f"round0.train.bucket ({cfg.round0.train.bucket}): a level opens where a bucket starts")
    prelude = cfg.round0.prelude
    if prelude is not None:
        try:
            task.check_difficulty(prelude.high)
        except TaskError as err:
            raise ConfigError(f"round0.prelude.high: {err}") from None
        low, cut, high = (_axes(d) for d in (cfg.round0.low, prelude.high, cfg.round0.high))
        if len(cut) != len(high) or any(not a <= c <= b for a, c, b in zip(low, cut, high)) or cut == high:
            raise ConfigError(f"round0.prelude.high {list(cut)} must lie in round0.low..round0.high "
                              f"({list(low)}..{list(high)}) and below round0.high: the prelude trains on part of D0")
        if prelude.candidates > 1 and cfg.round0.cycles is None:
            raise ConfigError(f"round0.prelude.candidates {prelude.candidates} needs round0.cycles: its checks pick the "
                              f"candidate that goes on; add round0.cycles or set candidates: 1")
        if prelude.candidates > 1 and (cfg.model.backend != "native" or cfg.round0.train.grad_ema_gain > 0):
            raise ConfigError("round0.prelude.candidates > 1 trains the candidates as one stacked native model, "
                              "without round0.train.grad_ema_gain; set candidates: 1")
    if curriculum is not None and cfg.round0.cycles is not None:
        raise ConfigError("round0.cycles and round0.curriculum cannot be combined: a curriculum's batches depend on "
                          "when its levels opened, a cycle's on the step alone; set one of them to null")
    if not 0 < cfg.rounds.lr_decay <= 1:
        raise ConfigError(f"rounds.lr_decay must be in (0, 1] (round r peaks at rounds.train.lr * lr_decay^(r-1)), "
                          f"got {cfg.rounds.lr_decay}")
    if not 0 < cfg.rounds.newest_fraction < 1:
        raise ConfigError(f"rounds.newest_fraction must be in (0, 1), got {cfg.rounds.newest_fraction}")
    _check_schedule(cfg, task)
    _check_filters(cfg, task)
    if cfg.model.backend not in ("native", "hf"):
        raise ConfigError(f"model.backend must be native or hf, got {cfg.model.backend!r}")
    lora = cfg.model.lora
    if lora.r < 1 or lora.alpha <= 0 or not 0 <= lora.dropout < 1 or not lora.targets:
        raise ConfigError(f"model.lora: need r >= 1, alpha > 0, 0 <= dropout < 1 and some targets, got {to_plain(lora)}")
    if cfg.model.backend == "hf" and cfg.model.init_from:
        raise ConfigError("model.init_from is for the native backend; a pretrained model starts from model.path")
    if cfg.model.n_embd % cfg.model.n_head:
        raise ConfigError(f"model.n_embd ({cfg.model.n_embd}) must be divisible by model.n_head ({cfg.model.n_head})")
    if not cfg.model.init_std > 0:
        raise ConfigError(f"model.init_std must be a positive standard deviation, got {cfg.model.init_std}")


def _check_schedule(cfg: RunConfig, task: Any) -> None:
    """The schedule's declared needs against the task and the round count (schedules.py)."""
    from selfimprove.consistency import has_twins
    from selfimprove.tasks import TaskError

    schedule = cfg.rounds.schedule
    kind, axes = SCHEDULES.kind_of(schedule), getattr(schedule, "axes", None)
    # An agreement probe compares the voters' answers, or one model's with its consistency twins.
    if getattr(schedule, "probe_by", None) == AGREEMENT and cfg.rounds.k < 2 and not has_twins(task):
        raise ConfigError(f"rounds.schedule: {kind} probes by agreement, which needs rounds.models >= 2 voting models "
                          f"or a task with consistency twins; task {task.name!r} has none (no twins method)")
    if axes is not None and len(task.axes) != axes:
        raise ConfigError(f"rounds.schedule: {kind} needs a task with {axes} difficulty axes, {task.name!r} has {task.axes}")
    if getattr(schedule, "axis", 0) >= len(task.axes):
        raise ConfigError(f"rounds.schedule.axis {schedule.axis} is out of range: task {task.name!r} has axes {task.axes}")
    listed = getattr(schedule, "rounds", None)  # a fixed table: one row of difficulties a round
    if listed is not None and len(listed) < cfg.rounds.count:
        raise ConfigError(f"rounds.schedule: {kind} has {len(listed)} rounds but rounds.count = {cfg.rounds.count}")
    for d in (d for row in listed or () for d in row):
        try:
            task.check_difficulty(d)
        except TaskError as err:
            raise ConfigError(f"rounds.schedule: {kind} difficulty {d!r}: {err}") from None


def _check_filters(cfg: RunConfig, task: Any) -> None:
    """Each filter's declared needs (votes, twins, verifier checks; filters.py) against the run."""
    from selfimprove.consistency import missing_twins

    voters = cfg.rounds.k
    for i, spec in enumerate(cfg.rounds.filters):
        key, kind = f"rounds.filters[{i}]", FILTERS.kind_of(spec)
        votes = getattr(spec, "votes", None)
        if votes is not None and voters < 2:
            raise ConfigError(f"{key}: a {kind} filter needs rounds.models >= 2 voting models (not voting more_data)")
        if votes and votes != voters:
            raise ConfigError(f"{key}: {kind} k = {votes} but rounds.models = {voters} models vote")
        twins, checks = declared_twins(spec), getattr(spec, "checks", None)
        reads_checks = hasattr(spec, "checks")  # None: every check the task declares
        if twins is not None and (reason := missing_twins(task, *twins[:3])) is not None:
            raise ConfigError(f"{key}: {reason}")
        if reads_checks and not isinstance(task, HasChecks):
            raise ConfigError(f"{key}: task {task.name!r} has no verifier checks")
        if checks is not None and not set(checks) <= set(task.check_names):
            raise ConfigError(f"{key}: task {task.name!r} checks {', '.join(task.check_names)}, not {list(checks)}")


# The smallest value each numeric key may take (TrainConfig checks its own fields' relations).
MINIMUM = {
    "rounds.count": 0, "rounds.problems": 1, "rounds.models": 1, "rounds.probe_problems": 1,
    "rounds.label_batch_size": 1, "round0.examples": 1, "eval.n": 1, "eval.ahead": 0, "eval.batch_size": 1,
    "model.n_layer": 1, "model.n_head": 1, "model.n_embd": 1, "model.mlp_hidden": 1,
    **{f"{phase}.train.{k}": least for phase in ("round0", "rounds")
       for k, least in (("warmup_steps", 0), ("decay_steps", 0), ("checkpoint_every", 1))},
}
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _get(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _axes(difficulty: Difficulty) -> tuple[int, ...]:
    return (difficulty,) if isinstance(difficulty, int) else tuple(difficulty)
