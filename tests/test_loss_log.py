"""loss_log.py: every training step's loss kept once, whatever kill and resume came between."""

import json

from selfimprove.loss_log import LossLog, read_losses


def test_a_restart_drops_only_this_models_windows_from_its_step_on(tmp_path):
    path = tmp_path / "losses.jsonl"
    zero, one = LossLog(path, 0), LossLog(path, 1)
    zero.append(0, [3.0, 2.0])
    zero.append(2, [1.0, 0.5])
    one.append(0, [4.0, 3.5])
    zero.restart(2)  # killed after the window 2-3 was appended, before its checkpoint
    assert read_losses(path) == {0: [(0, 3.0), (1, 2.0)], 1: [(0, 4.0), (1, 3.5)]}
    zero.append(2, [1.0, 0.25])
    assert read_losses(path)[0] == [(0, 3.0), (1, 2.0), (2, 1.0), (3, 0.25)]


def test_a_line_torn_by_a_kill_is_gone_after_the_restart(tmp_path):
    path = tmp_path / "losses.jsonl"
    log = LossLog(path)
    log.append(0, [1.0])
    with path.open("a") as f:
        f.write('{"model": 0, "step": 1, "loss')  # killed mid-append
    log.restart(1)
    log.append(1, [0.5])
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [0, 1]
    assert read_losses(path) == {0: [(0, 1.0), (1, 0.5)]}


def test_values_keep_five_significant_digits_and_a_disabled_log_writes_nothing(tmp_path):
    path = tmp_path / "losses.jsonl"
    LossLog(path, enabled=False).append(0, [1.0])
    assert not path.exists()
    LossLog(path).append(7, [0.0123456789, 2.718281828])
    assert read_losses(path) == {0: [(7, 0.012346), (8, 2.7183)]}
