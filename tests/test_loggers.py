"""TensorBoard and W&B (offline) mirror each round's numbers; off by default; bad options are one line."""

import json
from pathlib import Path

import pytest

from selfimprove.cli import main
from selfimprove.loggers import round_scalars

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"
SHORT = ["rounds.count=1", "round0.train.steps=20", "round0.train.decay_steps=5", "round0.train.warmup_steps=5"]


def test_round_scalars_flatten_the_summary_and_every_cell():
    cells = [{"difficulty": 3, "accuracy": 0.5}, {"difficulty": [2, 3], "accuracy": 1.0}]
    scalars = round_scalars({"round": 1, "longest_at_99": 2, "label_accuracy": None, "kept_fraction": 0.9}, cells)
    assert scalars == {"round/longest_at_99": 2.0, "round/kept_fraction": 0.9, "accuracy/3": 0.5, "accuracy/2x3": 1.0}


def test_no_logger_by_default(tmp_path):
    assert main(["run", str(SMOKE), *SHORT, "--out", str(tmp_path / "run")]) == 0
    assert not (tmp_path / "run" / "tensorboard").exists() and not (tmp_path / "run" / "wandb").exists()


def test_tensorboard_gets_every_round_and_difficulty(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert main(["run", str(SMOKE), *SHORT, "log.tensorboard=true", "--out", str(run)]) == 0
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    tags = events.Tags()["scalars"]
    record = json.loads((run / "round_001" / "eval.json").read_text())
    for cell in record["cells"]:
        values = events.Scalars(f"accuracy/{cell['difficulty']}")
        assert [v.step for v in values] == [0, 1]
        assert values[1].value == pytest.approx(cell["accuracy"])
    assert "round/wall_time_s" in tags and "round/kept_fraction" in tags


def test_wandb_offline_writes_a_local_run_and_resumes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_SILENT", "true")
    run = tmp_path / "run"
    assert main(["run", str(SMOKE), *SHORT, "log.wandb=true", "--out", str(run)]) == 0
    runs = list((run / "wandb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    run_id = (run / "wandb" / "run_id").read_text()
    assert runs[0].name.endswith(run_id)


def test_an_unknown_wandb_mode_is_a_one_line_error(tmp_path, capsys):
    assert main(["run", str(SMOKE), "log.wandb_mode=cloud", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "wandb_mode" in err[0]
