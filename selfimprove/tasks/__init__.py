"""Problem generators, formats, oracles and verifiers. Standard library only (no torch)."""

from selfimprove.tasks.base import (
    Difficulty,
    Problem,
    Task,
    TaskError,
    Verdict,
    get_task,
    parse_difficulty,
    task_names,
)

__all__ = ["Difficulty", "Problem", "Task", "TaskError", "Verdict", "get_task", "parse_difficulty", "task_names"]
