"""Problem generators, formats, oracles and verifiers. Standard library only (no torch)."""

from selfimprove.tasks.base import (
    Difficulty,
    HasAddends,
    HasChecks,
    HasCutTwins,
    HasShiftedTwins,
    HasSplitTwins,
    HasTwins,
    Problem,
    Task,
    TaskError,
    Twin,
    Verdict,
    parse_difficulty,
)
from selfimprove.tasks.registry import build_task, get_task, register, task_names

__all__ = ["Difficulty", "HasAddends", "HasChecks", "HasCutTwins", "HasShiftedTwins", "HasSplitTwins", "HasTwins", "Problem", "Task", "TaskError",
           "Twin", "Verdict", "build_task", "get_task", "parse_difficulty", "register", "task_names"]
