"""Crash-safe file writes shared by every module that touches a run directory.

A run can be killed at any instant (Ctrl-C, OOM, a preempted node), and a rerun resumes from the
files it finds, so no reader may ever see half a file:

* whole files are written to a temporary name in the same folder, fsynced, then renamed with
  ``os.replace`` (atomic on POSIX when source and target share a filesystem, which the same
  folder guarantees);
* JSON-lines files (``metrics.jsonl``, ``labels.jsonl``) are rewritten whole the same way;
  ``read_jsonl`` still skips a torn last line, for files copied from a live run or written by
  older versions that appended.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
>>> atomic_write_text(p, '{"round": 0}\\n{"round": 1}\\n')
>>> read_jsonl(p)
[{'round': 0}, {'round': 1}]
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from selfimprove.errors import UserError

__all__ = ["atomic_write_bytes", "atomic_write_text", "read_json", "read_jsonl", "read_yaml", "run_dir_lock"]

# mkstemp creates files 0600; a plain open() would give 0666 minus the umask. Read the umask once
# at import (os.umask can only be read by setting it) so renamed files get the ordinary mode.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see either the old file or the whole new one.

    The parent folder is created if needed. On any error the temporary file is removed and the
    previous content of ``path`` (if any) is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as the target: a rename across filesystems would not be atomic. The dot prefix
    # keeps a leftover (only possible after a hard kill) out of globs such as ``round_*``.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            os.fsync(f.fileno())  # the data must be on disk before the rename makes it visible
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path | str, text: str) -> None:
    """``atomic_write_bytes`` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def read_jsonl(path: Path | str) -> list[Any]:
    """Read every JSON line of ``path``; a torn (unparseable, unterminated) last line is skipped.

    Blank lines are ignored. A broken line anywhere else is real corruption, not a kill, and
    raises ``UserError`` (a ``ValueError``) naming the file and line.
    """
    path = Path(path)
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    # A file that ends with "\n" splits into [..., b""]; anything else in the last slot was
    # written without its newline, i.e. possibly torn.
    terminated, tail = lines[:-1], lines[-1]
    out: list[Any] = []
    for number, chunk in enumerate(terminated, start=1):
        if chunk.strip():
            try:
                out.append(json.loads(chunk))
            except ValueError as err:
                raise UserError(
                    f"{path}:{number}: not a JSON line ({err}); the file is corrupted - restore it or delete "
                    "the round folder that holds it to redo that round"
                ) from None
    if tail.strip():
        try:
            out.append(json.loads(tail))
        except ValueError:
            pass  # torn by a kill mid-append; the record was never complete
    return out


def fsync_dir(folder: Path) -> None:
    """Make a rename durable across power loss; skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on folders; the rename itself is still atomic
    finally:
        os.close(fd)


def read_json(path: Path | str) -> Any:
    """A JSON file of a run directory; a corrupted one is a one-line ``UserError``."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: corrupted JSON ({err}); restore it or delete its round folder to redo the round") from None


def read_yaml(path: Path | str) -> Any:
    """A YAML file (a run's config.yaml); a corrupted one is a one-line ``UserError``."""
    import yaml

    try:
        return yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise UserError(f"{path}: corrupted YAML ({str(err).splitlines()[0]}); restore it from the run's config") from None


@contextlib.contextmanager
def run_dir_lock(lock: Path):
    """Hold an exclusive lock on the run directory that holds the file ``lock`` for the ``with``
    block (``layout.RunDir.lock`` names it).

    Two processes resuming one run would train the same round twice and overwrite each other's
    checkpoints. The lock is ``flock`` on that file: the kernel releases it when the holder exits,
    however it exits, so a killed run never leaves a stale lock behind.
    """
    lock = Path(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise UserError(f"{lock.parent} is in use by another selfimprove process (pid {holder}); "
                            f"wait for it to finish, or use --out for a new run") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
