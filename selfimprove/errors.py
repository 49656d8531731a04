"""The one error type the command line reports as a single line (exit 2) instead of a traceback.

Every "you asked for something impossible" error — unknown task, malformed prompt or config, a
checkpoint that does not fit — subclasses ``UserError``. Standard library only, so the task
subcommands can catch it without importing torch.
"""


class UserError(ValueError):
    """Bad input from the user; the message is one line saying what is wrong and how to fix it."""
