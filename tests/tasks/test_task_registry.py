"""Tasks from outside the package: a task file named by a config, an installed entry point, and
the one-line errors for every way they can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfimprove.cli import main
from selfimprove.config import ConfigError, load_config
from selfimprove.tasks import TaskError, build_task, get_task, registry, task_names

# A task file: the built-in copy task under another name (a factory, no subclass).
ECHO = '''
from selfimprove.tasks import register
from selfimprove.tasks.strings import StringTask


def {name}(**options):
    task = StringTask(reverse=False, **options)
    task.name = "{name}"
    return task


register("{name}", {name})
'''


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_config_finds_its_task_file_next_to_itself_and_stores_the_absolute_path(tmp_path, monkeypatch):
    write(tmp_path / "exp" / "echo.py", ECHO.format(name="echo"))
    config = write(tmp_path / "exp" / "run.yaml", "task: {path: echo.py}\n")
    monkeypatch.chdir(tmp_path)  # not the config's folder
    cfg = load_config(Path("exp") / "run.yaml")
    assert cfg.task.name == "echo" and cfg.task.path == str(tmp_path / "exp" / "echo.py")
    task = cfg.task.build()
    assert task.name == "echo" and task.solve(task.parse("120=")) == "120"
    # An override's relative path is the shell's: from tmp_path, "exp/echo.py".
    assert load_config(config, ["task.path=exp/echo.py"]).task.path == cfg.task.path
    with pytest.raises(ConfigError, match="task.path"):
        load_config(config, ["task.path=echo.py"])  # no tmp_path/echo.py


def test_two_files_may_each_define_a_task_of_the_same_name(tmp_path):
    first = write(tmp_path / "a" / "echo.py", ECHO.format(name="echo"))
    second = write(tmp_path / "b" / "echo.py", ECHO.format(name="echo").replace("reverse=False", "reverse=True"))
    assert build_task("echo", first).solve(build_task("echo", first).parse("12=")) == "12"
    assert build_task(None, second).solve(build_task(None, second).parse("12=")) == "21"
    assert "echo" not in task_names()  # files are named by configs, not listed


@pytest.mark.parametrize(("text", "words"), [
    (None, "not an existing .py file"),
    ("x = 1\n", "registers no task"),
    (ECHO.format(name="copy"), "'copy', which `selfimprove tasks` already has"),
    ("import no_such_module_anywhere\n", "ModuleNotFoundError"),
    ("def broken(:\n", "SyntaxError"),
    ("from selfimprove.tasks import register\nregister('half', lambda: object())\n", "lacks name, axes"),
    (ECHO.format(name="echo").replace('task.name = "echo"', 'task.name = "other"'), "calls itself 'other'"),
    (ECHO.format(name="one") + ECHO.format(name="two"), "choose one with task.name"),
    (ECHO.format(name="echo").replace('register("echo"', 'register("not a name"'), "Python identifier"),
])
def test_a_bad_task_file_is_one_error_line_and_exit_2(tmp_path, capsys, text, words):
    path = tmp_path / "bad.py"
    if text is not None:
        write(path, text)
    assert main(["sample", str(path), "--difficulty", "3"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and words in err and err.count("\n") == 1
    write(tmp_path / "run.yaml", f"task: {{path: {path.name}}}\n")
    assert main(["run", str(tmp_path / "run.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert words in capsys.readouterr().err and not (tmp_path / "out").exists()


def test_a_file_with_several_tasks_takes_the_one_named(tmp_path, capsys):
    path = write(tmp_path / "two.py", ECHO.format(name="one") + ECHO.format(name="two"))
    assert build_task("two", path).name == "two"
    with pytest.raises(TaskError, match="registers one, two, not 'three'"):
        build_task("three", path)
    assert main(["solve", f"{path}:two", "120="]) == 0 and capsys.readouterr().out == "120\n"


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A fake installed distribution whose entry points are ``{name: module:factory}``."""

    def install(entries: dict[str, str], modules: dict[str, str]) -> None:
        site = tmp_path / "site"
        info = site / "fake_tasks-0.1.dist-info"
        write(info / "METADATA", "Metadata-Version: 2.1\nName: fake-tasks\nVersion: 0.1\n")
        write(info / "entry_points.txt", "[selfimprove.tasks]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))
        for name, text in modules.items():
            write(site / f"{name}.py", text)
        monkeypatch.syspath_prepend(str(site))
        # The modules' own register() calls land here; forget them with the fake install.
        monkeypatch.setattr(registry, "_IMPORTED", {})

    return install


def test_an_installed_entry_point_is_listed_loaded_and_usable_in_a_config(installed, tmp_path, capsys):
    installed({"parity_copy": "fake_parity:parity_copy"}, {"fake_parity": ECHO.format(name="parity_copy")})
    assert "parity_copy" in task_names()
    assert main(["tasks"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("parity_copy"))
    assert line.endswith("(entry point of fake-tasks)")
    assert get_task("parity_copy").solve(get_task("parity_copy").parse("12=")) == "12"
    config = write(tmp_path / "run.yaml", "task: {name: parity_copy}\n")
    assert load_config(config).task.build().name == "parity_copy"
    # A task file may not reuse an installed task's name either.
    with pytest.raises(TaskError, match="already has"):
        build_task(None, write(tmp_path / "dup.py", ECHO.format(name="parity_copy")))


def test_a_checkpoints_vocabulary_rebuilds_for_a_file_task_and_an_entry_point_task(installed, tmp_path):
    """The stored vocabulary names its task; the caller brings the task its config built, which
    a name alone could not find for a file (``echo`` is registered by no package)."""
    from selfimprove.tokenizer import Tokenizer

    installed({"parity_copy": "fake_parity:parity_copy"}, {"fake_parity": ECHO.format(name="parity_copy")})
    config = write(tmp_path / "run.yaml", "task: {path: echo.py}\n")
    write(tmp_path / "echo.py", ECHO.format(name="echo"))
    for task in (load_config(config).task.build(), get_task("parity_copy")):
        stored = Tokenizer.for_task(task).to_json()
        stored["tokens"] = stored["tokens"][:3] + stored["tokens"][:2:-1]  # ids as an older version gave them
        again = Tokenizer.from_json(stored, task)
        assert again.tokens == stored["tokens"] and again.decode(again.encode("120=")) == "120="


def test_an_entry_point_clashing_with_a_built_in_or_failing_to_import_is_one_error(installed, capsys):
    installed({"copy": "fake_copy:copy", "ghost": "no_such_module:Ghost"}, {"fake_copy": ECHO.format(name="copy")})
    with pytest.raises(TaskError, match=r"'copy' is defined more than once, by selfimprove \(built-in\), fake-tasks"):
        get_task("copy")
    assert main(["sample", "ghost", "--difficulty", "3"]) == 2
    err = capsys.readouterr().err
    assert "entry point of fake-tasks" in err and "ModuleNotFoundError" in err and err.count("\n") == 1
    assert get_task("reverse").name == "reverse"  # the other built-ins are untouched
