"""Where tasks come from: this package's modules, installed packages, and a user's own file.

Every task module ends with ``register("sort", SortTask)``; ``SortTask(**options)`` builds the
task. The sources, looked up by name:

- built-in: every module of ``selfimprove/tasks`` (found by listing the folder, so a new module is
  one file and no import list to edit);
- installed: a package that declares an entry point in the ``selfimprove.tasks`` group, whose
  name is the task's name and whose object is the factory::

      [project.entry-points."selfimprove.tasks"]
      sort = "my_package.sort:SortTask"

- a file: ``task: {path: my_tasks/sort.py}`` in a config (``build_task(name, path, options)``).
  The file is run as Python, with the user's rights: it is the user's own code, trusted as any
  script they run, so name only files you wrote or read. Its tasks are kept per file, so two
  experiments' files may both define a ``sort``;
- imported: ``register`` called by any other module once imported (a script's own task module,
  or an entry point's module that registers itself as a task file does).

A name defined twice (a file or an entry point reusing a built-in's name, two packages with one
name) is refused: run directories, checkpoints and tokenizers refer to a task by its name.

    >>> get_task("reverse").solve(get_task("reverse").parse("120="))
    '021'
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfimprove.tasks.base import Task, TaskError

Factory = Callable[..., Task]
GROUP = "selfimprove.tasks"  # the entry point group installed packages declare tasks in
DEFAULT_TASK = "reverse_addition"  # a config's task when it names none (the paper's first task)
# Task's required members (tasks/base.py), checked on every built task so that a user's task
# missing one fails at load, naming it, and not mid-run.
REQUIRED = ("name", "axes", "vocabulary", "split", "sample", "sample_initial", "difficulty", "prompt", "parse",
            "solve", "verify", "max_answer_len", "check_difficulty")

# What a user's file or an installed package may raise while it loads: reported in one line. (A
# KeyboardInterrupt or SystemExit still stops the program.)
LOAD_ERRORS = (ImportError, SyntaxError, NameError, AttributeError, TypeError, ValueError, LookupError,
               ArithmeticError, OSError, RuntimeError, AssertionError)

_BUILTIN: dict[str, Factory] = {}
_FILES: dict[Path, dict[str, Factory]] = {}  # resolved task file -> the tasks it registered
# Tasks registered by other imported code: a script's own module, or an installed package's
# module that ends with register() like a task file does.
_IMPORTED: dict[str, Factory] = {}
_collecting: dict[str, Factory] | None = None  # while a task file runs, its register() calls go here
_builtins_loaded = False


def register(name: str, factory: Factory) -> None:
    """Makes a task constructible by name; ``factory(**options)`` builds it. Called at import."""
    if _collecting is not None:
        table = _collecting
    else:  # a module of this package (imported by anyone, in any order), or other imported code
        table = _BUILTIN if getattr(factory, "__module__", "").startswith(__package__ + ".") else _IMPORTED
    if not isinstance(name, str) or not name.isidentifier():
        raise TaskError(f"a task name must be a Python identifier like 'sort_digits', got {name!r}")
    if table.get(name, factory) is not factory:
        raise TaskError(f"task {name!r} is registered twice")
    table[name] = factory


def task_names() -> list[str]:
    """Built-in, installed and imported tasks (a file's tasks are named by its config, not listed)."""
    _load_builtins()
    return sorted(set(_BUILTIN) | set(_IMPORTED) | {ep.name for ep in _entry_points()})


def task_source(name: str) -> str:
    """``"built-in"``, ``"entry point of <distribution>"`` or ``"registered by <module>"``."""
    _load_builtins()
    eps = [ep for ep in _entry_points() if ep.name == name]
    if name in _BUILTIN:
        return "built-in"
    if eps:
        return f"entry point of {_distribution(eps[0])}"
    return f"registered by {getattr(_IMPORTED[name], '__module__', '?')}" if name in _IMPORTED else "unknown"


def get_task(name: str, **options: Any) -> Task:
    """The built-in or installed task called ``name``, built with its options."""
    return build_task(name, None, options)


def build_task(name: str | None, path: Path | None = None, options: dict | None = None) -> Task:
    """The task ``name`` (of the file ``path`` when given; ``None``: the file's only task), built
    with ``options``. Every failure is a one-line ``TaskError``."""
    if path is None:
        if name is None:
            raise TaskError("no task named: give task.name or task.path")
        factory = _named(name)
    else:
        found = file_tasks(path)
        if name is None:
            if len(found) > 1:
                raise TaskError(f"task file {path} registers {', '.join(sorted(found))}: choose one with task.name")
            (name,) = found
        if name not in found:
            raise TaskError(f"task file {path} registers {', '.join(sorted(found))}, not {name!r}")
        factory = found[name]
    try:
        task = factory(**(options or {}))
    except TypeError as err:
        raise TaskError(f"bad options for task {name!r}: {err}") from None
    missing = [m for m in REQUIRED if not hasattr(task, m)]
    if missing:
        raise TaskError(f"task {name!r} lacks {', '.join(missing)} (the Task protocol, selfimprove/tasks/base.py)")
    if task.name != name:
        raise TaskError(f"task registered as {name!r} calls itself {task.name!r}; the two names must match")
    return task


def file_tasks(path: Path) -> dict[str, Factory]:
    """Runs a task file once per process and returns the tasks it registered."""
    path = Path(path).resolve()
    if path in _FILES:
        return _FILES[path]
    if not path.is_file() or path.suffix != ".py":
        raise TaskError(f"task file {path} is not an existing .py file")
    _load_builtins()  # first, so that a file importing a built-in module does not collect its tasks
    module_name = "selfimprove_task_file_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None  # a .py path always has a source loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up while the file runs
    global _collecting
    found: dict[str, Factory] = {}
    _collecting = found
    try:
        spec.loader.exec_module(module)
    except LOAD_ERRORS as err:
        sys.modules.pop(module_name, None)
        raise TaskError(f"task file {path} failed to load: {type(err).__name__}: {err}") from None
    finally:
        _collecting = None
    if not found:
        raise TaskError(f"task file {path} registers no task; end it with register('name', YourTask)")
    installed = {ep.name for ep in _entry_points()} | set(_IMPORTED)
    for name in found:
        if name in _BUILTIN or name in installed:
            raise TaskError(f"task file {path} registers {name!r}, which `selfimprove tasks` already has; rename it")
    _FILES[path] = found
    return found


def _named(name: str) -> Factory:
    _load_builtins()
    eps = [ep for ep in _entry_points() if ep.name == name]
    imported = _IMPORTED.get(name)
    if name in _BUILTIN and (eps or imported is not None) or len(eps) > 1:
        sources = ((["selfimprove (built-in)"] if name in _BUILTIN else []) + [_distribution(ep) for ep in eps]
                   + ([f"{getattr(imported, '__module__', '?')} (register)"] if imported is not None else []))
        raise TaskError(f"task {name!r} is defined more than once, by {', '.join(sources)}; uninstall or rename one")
    if name in _BUILTIN:
        return _BUILTIN[name]
    if not eps:
        if imported is not None:
            return imported
        raise TaskError(f"unknown task {name!r}; choose one of: {', '.join(task_names())}")
    try:
        factory = eps[0].load()
    except LOAD_ERRORS as err:
        raise TaskError(f"task {name!r} (entry point of {_distribution(eps[0])}) failed to load: "
                        f"{type(err).__name__}: {err}") from None
    if not callable(factory):
        raise TaskError(f"entry point {name!r} of {_distribution(eps[0])} is not a task class or factory")
    return factory


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    # Read each time (a scan of sys.path's metadata, milliseconds): installing a package or
    # changing sys.path in a session is seen without a restart.
    return list(importlib.metadata.entry_points(group=GROUP))


def _distribution(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.metadata["Name"] if dist is not None else ep.value


def _load_builtins() -> None:
    # Lazily, so that the task modules can import this one without a cycle.
    global _builtins_loaded
    if _builtins_loaded:
        return
    import selfimprove.tasks as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")
    _builtins_loaded = True
