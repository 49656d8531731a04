"""The self-improvement loop end to end on configs/smoke.yaml (seconds on 2 cores)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_records import crashing, evals, losses

from selfimprove.cli import main
from selfimprove.config import load_config, to_plain
from selfimprove.rounds import run_rounds

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs" / "smoke.yaml"




@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke") / "run"
    assert main(["run", str(SMOKE), "--out", str(out)]) == 0
    return out


def test_smoke_run_writes_every_file_of_the_run_directory(smoke_run):
    assert (smoke_run / "config.yaml").exists()
    for r in range(3):
        folder = smoke_run / f"round_{r:03d}"
        assert (folder / "DONE").exists()
        record = json.loads((folder / "eval.json").read_text())
        assert record["round"] == r and record["step"] > 0
        assert [c["difficulty"] for c in record["cells"]] == list(range(1, 7))
        assert all(c["n"] == 16 and 0 <= c["accuracy"] <= 1 for c in record["cells"])
        assert record["trained"] == list(range(1, 4 + r))
        phases = ["train", "evaluate"] if r == 0 else ["plan", "label", "train", "evaluate"]
        assert list(record["phase_s"]) == phases and all(t >= 0 for t in record["phase_s"].values())
        assert sum(record["phase_s"].values()) <= record["wall_time_s"] - (r and json.loads(
            (smoke_run / f"round_{r - 1:03d}" / "eval.json").read_text())["wall_time_s"]) + 1e-3
    labels = [json.loads(line) for line in (smoke_run / "round_001" / "labels.jsonl").read_text().splitlines()]
    assert len(labels) == 64 and {x["difficulty"] for x in labels} == {4}
    assert all(x["kept"] == (x["dropped_by"] is None) for x in labels)
    stats = json.loads((smoke_run / "round_001" / "filter_stats.json").read_text())
    assert stats["labelled"] == 64 and stats["kept"] == sum(x["kept"] for x in labels)
    right = [x for x in labels if x["correct"]]  # the filters' recall, from the rows themselves
    assert stats["right_kept"] == (sum(x["kept"] for x in right) / len(right) if right else None)
    assert [f["name"] for f in stats["filters"]] == ["consistency", "length"]
    metrics = [json.loads(line) for line in (smoke_run / "metrics.jsonl").read_text().splitlines()]
    assert sum(m.get("kind") == "round" for m in metrics) == 3
    assert (smoke_run / "report.md").exists()


def test_every_training_step_of_every_round_has_its_loss_on_disk(smoke_run):
    from selfimprove.loss_log import read_losses

    for r in range(3):
        steps = json.loads((smoke_run / f"round_{r:03d}" / "eval.json").read_text())["step"]
        per_model = read_losses(smoke_run / f"round_{r:03d}" / "losses.jsonl")
        assert list(per_model) == [0] and [s for s, _ in per_model[0]] == list(range(steps))
        assert all(0 <= value < 20 for _, value in per_model[0])
    round0 = [value for _, value in read_losses(smoke_run / "round_000" / "losses.jsonl")[0]]
    assert sum(round0[-10:]) < sum(round0[:10])  # round 0 learns: the log holds real losses, in order
    assert (smoke_run / "plots" / "losses.png").stat().st_size > 1000 and "plots/losses.png" in (smoke_run / "report.md").read_text()


def test_every_file_of_the_smoke_run_is_one_the_run_dir_names(smoke_run):
    from selfimprove.checkpoint import checkpoint_dir
    from selfimprove.layout import RunDir

    files = RunDir.of(smoke_run, load_config(SMOKE))
    assert files.rounds() == files.finished() == [0, 1, 2]
    named = {files.config, files.runtime, files.metrics, files.report, files.lock}
    for r in files.rounds():
        named |= {files.done(r), files.eval(r), files.labels(r), files.filter_stats(r), files.plan(r), files.probe(r),
                  files.losses(r)}
    checkpoints = {checkpoint_dir(files.round(r), files.prefix(0)) for r in files.rounds()}
    for path in (p for p in smoke_run.rglob("*") if p.is_file()):
        assert path in named or path.parent in checkpoints or path.parent == files.plots, path


def test_a_round_loads_its_models_once_and_keeps_its_labels_in_memory(tmp_path, monkeypatch):
    """Probe, labelling and training of a round share one load of round r-1's checkpoints, and
    the labels just written are not read back (a resume reads them: the crash tests)."""
    from selfimprove import run as run_module
    from selfimprove.layout import RunDir

    loads, real = [], run_module.load_checkpoint

    def counted(folder, *args, **kwargs):
        loads.append(Path(folder).name)
        return real(folder, *args, **kwargs)

    def never(self, r):
        raise AssertionError("labels.jsonl read back in the round that wrote it")

    monkeypatch.setattr(run_module, "load_checkpoint", counted)
    monkeypatch.setattr(RunDir, "read_labels", never)
    overrides = ["rounds.count=2", "rounds.models=2", "rounds.filters=[{kind: majority, tau: 0.5}]",
                 "rounds.schedule={kind: label_free_accelerated, threshold: 0.0, max_new: 1}",
                 "round0.train.steps=30", "rounds.train.steps=15", "rounds.problems=24", "rounds.probe_problems=8"]
    run_rounds(load_config(SMOKE, overrides), tmp_path, log=lambda line: None)
    assert (tmp_path / "round_002" / "DONE").exists() and (tmp_path / "round_002" / "probe.json").exists()
    assert loads == ["round_000", "round_000", "round_001", "round_001"]  # each of the 2 models once a round


def test_rerunning_a_finished_run_changes_nothing(smoke_run, capsys):
    before = evals(smoke_run)
    assert main(["run", str(SMOKE), "--out", str(smoke_run)]) == 0
    assert evals(smoke_run) == before


def test_a_different_config_in_the_same_directory_is_refused(smoke_run, capsys):
    assert main(["run", str(SMOKE), "rounds.problems=65", "--out", str(smoke_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different config" in err[0] and "rounds.problems" in err[0]


def test_threads_and_device_do_not_block_a_resume(smoke_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(smoke_run, run)
    before = evals(run)
    assert main(["run", str(SMOKE), "threads=1", "device=cpu", "--out", str(run)]) == 0
    assert evals(run) == before


def test_rounds_count_extends_a_finished_run_to_the_same_numbers_as_a_longer_run(smoke_run, tmp_path):
    extended, fresh = tmp_path / "extended", tmp_path / "fresh"
    shutil.copytree(smoke_run, extended)
    assert main(["run", str(SMOKE), "rounds.count=3", "--out", str(extended)]) == 0
    assert main(["run", str(SMOKE), "rounds.count=3", "--out", str(fresh)]) == 0
    assert (extended / "round_003" / "DONE").exists()
    assert {k: v for k, v in evals(extended).items() if k != "round_003"} == evals(smoke_run)
    assert evals(extended) == evals(fresh)
    assert load_config(extended / "config.yaml").rounds.count == 3  # the stored config says so


def test_a_second_process_on_the_same_run_directory_is_refused(smoke_run, tmp_path, capsys):
    from selfimprove.io import run_dir_lock
    from selfimprove.layout import RunDir

    with run_dir_lock(RunDir(smoke_run).lock):
        assert main(["run", str(SMOKE), "--out", str(smoke_run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use by another selfimprove process" in err[-1]
    assert main(["run", str(SMOKE), "--out", str(smoke_run)]) == 0  # released with the holder


def test_resume_after_a_crash_mid_round_equals_the_uninterrupted_run(smoke_run, tmp_path, monkeypatch):
    from selfimprove import rounds

    real = rounds.train_steps
    monkeypatch.setattr(rounds, "train_steps", crashing(real, lambda desc: desc.startswith("train r1"), 20))
    cfg = load_config(SMOKE)
    with pytest.raises(KeyboardInterrupt):
        run_rounds(cfg, tmp_path, log=lambda line: None)
    assert not (tmp_path / "round_001" / "DONE").exists()
    assert json.loads((tmp_path / "round_001" / "checkpoint" / "state.json").read_text())["step"] == 20
    monkeypatch.setattr(rounds, "train_steps", real)
    run_rounds(cfg, tmp_path, log=lambda line: None)
    assert evals(tmp_path) == evals(smoke_run)
    assert losses(tmp_path) == losses(smoke_run)


def test_sigkill_at_any_moment_then_rerun_gives_the_same_evaluations(smoke_run, tmp_path):
    command = [sys.executable, "-m", "selfimprove.cli", "run", str(SMOKE), "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for delay in (4.0, 7.0):
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert evals(tmp_path) == evals(smoke_run)
    assert losses(tmp_path) == losses(smoke_run)


def test_predict_answers_prompts_from_stdin(smoke_run, monkeypatch, capsys):
    import io

    from selfimprove.predict import predict

    prompts = ["21+543=", "9+1="]
    expected = predict(smoke_run, prompts)
    monkeypatch.setattr(sys, "stdin", io.StringIO("21+543=\n9+1=\n"))
    assert main(["predict", str(smoke_run)]) == 0
    assert capsys.readouterr().out.splitlines() == expected
    assert all(a.isdigit() or a == "" for a in expected)
    monkeypatch.setattr(sys, "stdin", io.StringIO("21+x=\n"))
    assert main(["predict", str(smoke_run)]) == 2
    assert main(["predict", str(smoke_run), "--round", "7"]) == 2


def test_oracle_firewall_labelling_never_calls_solve(smoke_run, monkeypatch):
    from selfimprove.config import load_config
    from selfimprove.generate import Decoding
    from selfimprove.labelling import fresh_problems, label_round
    from selfimprove.predict import load_round_model

    task, tok, model, precision = load_round_model(smoke_run, 0)

    def forbidden(problem):
        raise AssertionError("the oracle was called while labelling")

    monkeypatch.setattr(task, "solve", forbidden)
    cfg = load_config(SMOKE)
    problems = [fresh_problems(task, [4], 32, 0, 1, 0)]
    items, stats = label_round([model], task, tok, problems, cfg.rounds.filters, False, 0, 1, Decoding(64, precision))
    assert len(items[0]) == 32 and stats[0][0]["in"] == 32


def test_a_run_can_start_from_another_runs_round_0(smoke_run, tmp_path, capsys):
    out = tmp_path / "forked"
    args = ["run", str(SMOKE), "rounds.filters=[]", "rounds.count=1", "--out", str(out), "--base", str(smoke_run)]
    assert main(args) == 0
    assert (out / "round_000" / "checkpoint" / "model.safetensors").read_bytes() == (smoke_run / "round_000" / "checkpoint" / "model.safetensors").read_bytes()
    assert json.loads((out / "round_001" / "filter_stats.json").read_text())["filters"] == []
    assert (out / "round_001" / "DONE").exists()
    refused = ["run", str(SMOKE), "round0.high=4", "--out", str(tmp_path / "other"), "--base", str(smoke_run)]
    assert main(refused) == 2
    assert "first difference: round0.high (3 there, 4 now)" in capsys.readouterr().err


def test_a_fork_with_another_eval_grid_scores_the_same_round_0_model_on_its_own_grid(smoke_run, tmp_path):
    # The eval section does not touch round 0's model: a base scored on 1-6 is reused and scored on
    # 1-8, without training a step, and the run's wall time still counts the base's round 0.
    out = tmp_path / "wider"
    assert main(["run", str(SMOKE), "eval.high=8", "rounds.count=1", "--out", str(out), "--base", str(smoke_run)]) == 0
    weights = "round_000/checkpoint/model.safetensors"
    assert (out / weights).read_bytes() == (smoke_run / weights).read_bytes()
    base = json.loads((smoke_run / "round_000" / "eval.json").read_text())
    assert json.loads((out / "round_000" / "base_eval.json").read_text()) == base
    record = json.loads((out / "round_000" / "eval.json").read_text())
    assert [c["difficulty"] for c in record["cells"]] == list(range(1, 9)) and record["step"] == base["step"]
    assert record["wall_time_s"] > base["wall_time_s"] and (out / "round_000" / "DONE").exists()
    # The same cells drawn by the same seed give the same scores as the base's.
    assert [c["accuracy"] for c in record["cells"][:6]] == [c["accuracy"] for c in base["cells"]]
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert sorted({x["difficulty"] for x in lines if x.get("round") == 0 and "difficulty" in x}) == list(range(1, 9))
    assert (out / "round_001" / "DONE").exists()
    assert main(["run", str(SMOKE), "eval.high=8", "rounds.count=1", "--out", str(out), "--base", str(smoke_run)]) == 0
    assert json.loads((out / "round_000" / "eval.json").read_text()) == record  # a rerun resumes, scores nothing anew


def test_a_run_forked_through_a_later_round_equals_the_run_made_whole(smoke_run, tmp_path, capsys):
    # Noise injected at round 2 changes nothing before it, so rounds 0-1 may come from the smoke run.
    noisy = "rounds.noise={kind: uniform, p: 0.5, at: [2]}"
    whole, forked = tmp_path / "whole", tmp_path / "forked"
    assert main(["run", str(SMOKE), noisy, "--out", str(whole)]) == 0
    assert main(["run", str(SMOKE), noisy, "--out", str(forked), "--base", str(smoke_run), "--base-round", "1"]) == 0
    weights = "checkpoint/model.safetensors"
    assert (forked / "round_001" / weights).read_bytes() == (smoke_run / "round_001" / weights).read_bytes()
    assert (forked / "round_002" / weights).read_bytes() == (whole / "round_002" / weights).read_bytes()
    assert (forked / "round_002" / "labels.jsonl").read_text() == (whole / "round_002" / "labels.jsonl").read_text()
    assert '"noise": "uniform"' in (forked / "round_002" / "labels.jsonl").read_text()
    assert [json.loads(x)["round"] for x in (forked / "metrics.jsonl").read_text().splitlines()].count(1) >= 1
    assert (forked / "BASE").read_text().splitlines()[1] == "through round 1"
    capsys.readouterr()
    refusals = [
        (["rounds.noise={kind: uniform, p: 0.5, at: [1]}", "--base-round", "1"], "first difference: rounds.noise"),
        (["rounds.filters=[]", "--base-round", "1"], "first difference: rounds.filters"),
        ([noisy, "rounds.count=4", "--base-round", "3"], "no finished round 3"),
        ([noisy, "--base-round", "3"], "past this run's last round (2)"),
    ]
    for i, (extra, words) in enumerate(refusals):
        args = ["run", str(SMOKE), *extra, "--out", str(tmp_path / f"refused{i}"), "--base", str(smoke_run)]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error:") and words in err and len(err.strip().splitlines()) == 1
    assert main(["run", str(SMOKE), "--out", str(tmp_path / "nobase"), "--base-round", "1"]) == 2
    assert "--base-round needs --base" in capsys.readouterr().err


def test_a_fork_killed_while_moving_rounds_into_place_is_redone_on_resume(smoke_run, tmp_path, monkeypatch):
    from selfimprove import resume

    real_rename = Path.rename

    def killed_at_round_0(self, target):
        if Path(target).name == "round_000":
            raise KeyboardInterrupt("killed")
        return real_rename(self, target)

    args = ["run", str(SMOKE), "--out", str(tmp_path / "run"), "--base", str(smoke_run), "--base-round", "2"]
    with monkeypatch.context() as patch:
        patch.setattr(resume.Path, "rename", killed_at_round_0)
        with pytest.raises(KeyboardInterrupt):
            main(args)
    assert (tmp_path / "run" / "round_002").exists() and not (tmp_path / "run" / "round_000").exists()
    assert main(args) == 0
    for r in range(3):
        weights = f"round_{r:03d}/checkpoint/model.safetensors"
        assert (tmp_path / "run" / weights).read_bytes() == (smoke_run / weights).read_bytes()
    assert not list((tmp_path / "run").glob(".*.copy"))


@pytest.mark.parametrize("voting", ["independent", "shared_data", "shared_init", "shared_d0", "more_data"])
def test_majority_vote_variants_run_and_record_every_voter(voting, tmp_path):
    filters = "[]" if voting == "more_data" else "[{kind: majority, tau: 0.5}]"
    overrides = ["rounds.count=1", "rounds.models=2", f"rounds.voting={voting}", f"rounds.filters={filters}",
                 "round0.train.steps=30", "rounds.train.steps=15", "rounds.problems=24"]
    run_rounds(load_config(SMOKE, overrides), tmp_path, log=lambda line: None)
    labels = [json.loads(line) for line in (tmp_path / "round_001" / "labels.jsonl").read_text().splitlines()]
    record = json.loads((tmp_path / "round_001" / "eval.json").read_text())
    if voting == "more_data":  # one model, k times the problems, no vote
        assert len(labels) == 48 and {x["model"] for x in labels} == {0} and record["models"] is None
        return
    assert all(len(x["answers"]) == 2 for x in labels)
    owners = {x["model"] for x in labels}
    assert owners == ({0} if voting == "shared_data" else {0, 1})
    assert len(record["models"]) == 2
    for x in labels:  # tau 0.5 of 2 voters: one agreeing vote (the labeller's own) suffices
        assert x["kept"] == (x["answers"].count(x["label"]) >= 1)
    # Every variant's base models differ (shared_init and shared_d0 in their batch order at
    # least), so the round-1 vote has something to filter (B.2.4, Fig. 15).
    a = (tmp_path / "round_000" / "m0_checkpoint" / "model.safetensors").read_bytes()
    assert a != (tmp_path / "round_000" / "m1_checkpoint" / "model.safetensors").read_bytes()


@pytest.mark.parametrize("voting", ["independent", "shared_init", "shared_d0"])
def test_voting_variants_share_exactly_what_they_name(voting):
    """shared_init: one initialisation and one D0; shared_d0: one D0; never one batch order."""
    import torch

    from selfimprove.run import Run, build_models

    cfg = load_config(SMOKE, ["rounds.models=2", f"rounds.voting={voting}", "round0.examples=50"])
    run = Run(cfg, torch.device("cpu"))
    build_models(run)
    same_init = all(torch.equal(p, q) for p, q in zip(run.models[0].parameters(), run.models[1].parameters()))
    same_d0 = (run.sets[0][0].tokens.shape == run.sets[1][0].tokens.shape
               and (run.sets[0][0].tokens == run.sets[1][0].tokens).all())
    assert same_init == (voting == "shared_init")
    assert bool(same_d0) == (voting in ("shared_init", "shared_d0"))
    assert run.order_seed(0) != run.order_seed(1)


@pytest.mark.parametrize("schedule", ["{kind: accelerated, threshold: 0.0, max_new: 3}",
                                      "{kind: label_free_accelerated, threshold: 0.0, max_new: 2}"])
def test_accelerated_schedules_probe_and_extend_the_range(schedule, tmp_path):
    overrides = ["rounds.count=1", f"rounds.schedule={schedule}", "round0.train.steps=30",
                 "rounds.train.steps=15", "rounds.problems=24", "rounds.probe_problems=8"]
    run_rounds(load_config(SMOKE, overrides), tmp_path, log=lambda line: None)
    # threshold 0 lets every probed difficulty pass, so the round takes max_new new lengths
    plan = json.loads((tmp_path / "round_001" / "plan.json").read_text())
    assert plan == ([4, 5, 6] if "max_new: 3" in schedule else [4, 5])
    stats = json.loads((tmp_path / "round_001" / "filter_stats.json").read_text())
    assert stats["difficulties"] == plan
    probe = json.loads((tmp_path / "round_001" / "probe.json").read_text())
    assert probe["kind"] == ("accuracy" if "kind: accelerated" in schedule else "agreement")
    assert [v["difficulty"] for v in probe["values"]] == plan
    assert all(0.0 <= v["value"] <= 1.0 for v in probe["values"])


def test_a_waiting_schedule_adds_no_data_and_keeps_the_trained_range(tmp_path):
    # threshold 1.0: a barely trained model never agrees with its twins on every problem
    overrides = ["rounds.count=1", "rounds.schedule={kind: label_free_accelerated, threshold: 1.0, wait: true}",
                 "round0.train.steps=30", "rounds.train.steps=15", "rounds.problems=24", "rounds.probe_problems=16"]
    run_rounds(load_config(SMOKE, overrides), tmp_path, log=lambda line: None)
    assert json.loads((tmp_path / "round_001" / "plan.json").read_text()) == []
    stats = json.loads((tmp_path / "round_001" / "filter_stats.json").read_text())
    assert stats["labelled"] == 0 and stats["kept"] == 0
    record = json.loads((tmp_path / "round_001" / "eval.json").read_text())
    assert record["trained"] == [1, 2, 3] and record["step"] == 15
    probe = json.loads((tmp_path / "round_001" / "probe.json").read_text())
    (measured,) = probe["values"]  # the first untried length failed, so nothing further was probed
    assert measured["difficulty"] == 4 and measured["value"] < 1.0 and probe["threshold"] == 1.0
    assert probe["first_threshold"] is None
    from selfimprove.report import write_report
    report = write_report(tmp_path).read_text()
    assert "| 1 |" in report and f"4: {measured['value']:.2f}" in report


def test_a_refreshing_wait_labels_fresh_problems_at_the_frontier(tmp_path):
    overrides = ["rounds.count=1", "rounds.schedule={kind: label_free_accelerated, threshold: 1.0, wait: true, refresh: true}",
                 "round0.train.steps=30", "rounds.train.steps=15", "rounds.problems=24", "rounds.probe_problems=16"]
    run_rounds(load_config(SMOKE, overrides), tmp_path, log=lambda line: None)
    assert json.loads((tmp_path / "round_001" / "plan.json").read_text()) == [3]
    stats = json.loads((tmp_path / "round_001" / "filter_stats.json").read_text())
    assert stats["labelled"] == 24 and stats["difficulties"] == [3]
    record = json.loads((tmp_path / "round_001" / "eval.json").read_text())
    assert record["trained"] == [1, 2, 3]  # the frontier was already trained: the range stays


def test_a_corrupted_run_file_is_a_one_line_error(smoke_run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(smoke_run, copy)
    labels = copy / "round_001" / "labels.jsonl"
    lines = labels.read_text().splitlines()
    lines[3] = lines[3][: len(lines[3]) // 2]  # a torn line in the middle: not a crash artefact
    labels.write_text("\n".join(lines) + "\n")
    assert main(["run", str(SMOKE), "--out", str(copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "labels.jsonl:4" in err[0] and "corrupted" in err[0]


def test_a_corrupted_eval_or_config_is_a_one_line_error(smoke_run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(smoke_run, copy)
    (copy / "round_000" / "eval.json").write_text('{"round": 0, "ste')
    assert main(["run", str(SMOKE), "--out", str(copy)]) == 2
    assert "eval.json" in capsys.readouterr().err
    (copy / "config.yaml").write_text("name: [unclosed\n")
    assert main(["run", str(SMOKE), "--out", str(copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "config.yaml" in err[0]
    assert main(["predict", str(copy)]) == 2


@pytest.mark.parametrize("kind", ["label_free_accelerated", "accelerated"])
def test_the_schedule_probes_the_previous_rounds_model_after_a_fork(kind, smoke_run, tmp_path, monkeypatch):
    # A run forked from another's round 0 (as after a resume) skips training round 0, so the
    # probe must load round 0's weights rather than see the freshly initialised model.
    import torch

    from selfimprove import rounds
    from selfimprove.checkpoint import load_checkpoint
    from selfimprove.layout import RunDir
    from selfimprove.resume import fork_base
    from selfimprove.run import Run, build_models

    seen = []

    def spy(models, *args, **kwargs):
        seen.append(torch.cat([p.detach().flatten() for p in models[0].parameters()]).clone())
        return lambda difficulty: 0.0

    monkeypatch.setattr(rounds, "agreement_probe", spy)
    monkeypatch.setattr(rounds, "accuracy_probe", spy)
    cfg = load_config(SMOKE, ["rounds.count=1", f"rounds.schedule={{kind: {kind}}}"])
    files = RunDir.of(tmp_path, cfg)
    fork_base(cfg, files, smoke_run)
    run = Run(cfg, torch.device("cpu"))
    build_models(run)
    rounds.plan_round(run, files, 1, [1, 2], "fp32")
    fresh = Run(cfg, torch.device("cpu"))
    build_models(fresh)
    initial = torch.cat([p.detach().flatten() for p in fresh.models[0].parameters()])
    load_checkpoint(smoke_run / "round_000", fresh.models[0], None, files.prefix(0))
    expected = torch.cat([p.detach().flatten() for p in fresh.models[0].parameters()])
    assert not torch.equal(initial, expected)
    assert seen and torch.equal(seen[0], expected)


@pytest.mark.parametrize("extra, expected", [("shifts: 2", (2, 0, 0, True)), ("shifts: 1, cuts: 2", (1, 2, 0, True)),
                                             ("splits: 1, plain: false", (0, 0, 1, False))])
def test_shifted_cut_and_split_twins_reach_both_the_probe_and_the_filter(tmp_path, monkeypatch, extra, expected):
    from selfimprove import labelling

    calls = []
    original = labelling.twins

    def spy(task, problem, rng, shifts=0, cuts=0, splits=0, plain=True):
        calls.append((shifts, cuts, splits, plain))
        return original(task, problem, rng, shifts, cuts, splits, plain)

    monkeypatch.setattr(labelling, "twins", spy)
    overrides = ["rounds.count=1", "rounds.schedule={kind: label_free_accelerated, threshold: 0.0, max_new: 1}",
                 f"rounds.filters=[{{kind: consistency, {extra}}}]", "round0.train.steps=30",
                 "rounds.train.steps=15", "rounds.problems=24", "rounds.probe_problems=8"]
    run_rounds(load_config(SMOKE, overrides), tmp_path, log=lambda line: None)
    assert len(calls) == 8 + 24 and set(calls) == {expected}  # 8 probed problems, then 24 labelled ones
    stats = json.loads((tmp_path / "round_001" / "filter_stats.json").read_text())
    assert stats["filters"][0]["name"] == "consistency" and stats["labelled"] == 24


def test_zero_steps_train_nothing_and_the_round_keeps_the_previous_model(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(SMOKE), "rounds.count=1", "rounds.train.steps=0", "rounds.train.decay_steps=0",
                 "--out", str(out)]) == 0
    r0, r1 = (json.loads((out / f"round_00{r}" / "eval.json").read_text()) for r in (0, 1))
    assert r1["step"] == 0
    acc0 = {json.dumps(c["difficulty"]): c["accuracy"] for c in r0["cells"]}
    acc1 = {json.dumps(c["difficulty"]): c["accuracy"] for c in r1["cells"]}
    assert acc1 == acc0


FIREWALL_RUNS = {
    "label-free probe + shifted twins": ["rounds.schedule={kind: label_free_accelerated, threshold: 0.0, max_new: 2}",
                                         "rounds.filters=[{kind: consistency, shifts: 1}]"],
    "vote of 2 + length": ["rounds.models=2", "rounds.filters=[{kind: majority, tau: 0.5}, {kind: length, tau: 1}]",
                           "rounds.schedule={kind: label_free_accelerated, threshold: 0.0, max_new: 1}"],
    "maze verifiers + vote": ["task={name: maze}", "round0.low=[1, 5]", "round0.high=[2, 5]", "eval.low=[1, 5]",
                              "eval.high=[4, 5]", "rounds.models=2", "rounds.schedule={kind: increment, step: 1, axis: 0}",
                              "rounds.filters=[{kind: verifier, checks: [moves, end]}, {kind: majority, tau: 1.0}]"],
}


@pytest.mark.parametrize("name", list(FIREWALL_RUNS))
def test_oracle_firewall_covers_whole_rounds_probe_filters_and_votes(name, tmp_path, monkeypatch):
    """Two full rounds with the task's ``solve`` raising whenever the schedule's probe or the
    labelling (answers, twins, votes, verifiers, filters) is running; D0 and evaluation may use it."""
    from selfimprove import rounds
    from selfimprove.tasks import get_task

    cfg = load_config(SMOKE, ["rounds.count=2", "rounds.problems=24", "round0.train.steps=30", *FIREWALL_RUNS[name]])
    guarded = {"on": False, "calls": 0}
    task_class = type(get_task(cfg.task.name, **cfg.task.options))
    real_solve = task_class.solve

    def solve(self, problem):
        if guarded["on"]:
            raise AssertionError(f"the oracle was called while choosing or filtering self-labels ({name})")
        return real_solve(self, problem)

    def without_oracle(fn):
        def wrapped(*args, **kwargs):
            guarded["on"], guarded["calls"] = True, guarded["calls"] + 1
            try:
                return fn(*args, **kwargs)
            finally:
                guarded["on"] = False
        return wrapped

    monkeypatch.setattr(task_class, "solve", solve)
    monkeypatch.setattr(rounds, "label_round", without_oracle(rounds.label_round))
    real_probe = rounds.agreement_probe
    monkeypatch.setattr(rounds, "agreement_probe", lambda *a, **k: without_oracle(real_probe(*a, **k)))
    run_rounds(cfg, tmp_path, log=lambda line: None)
    assert (tmp_path / "round_002" / "DONE").exists()
    probes = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("round_*/probe.json"))]
    label_free = "label_free" in json.dumps(to_plain(cfg.rounds.schedule))
    assert len(probes) == (2 if label_free else 0)
    assert guarded["calls"] >= (2 + sum(len(p["values"]) for p in probes))  # the guard was up every time


def test_the_run_records_what_auto_resolved_to(smoke_run):
    runtime = json.loads((smoke_run / "runtime.json").read_text())
    assert runtime["device"] == "cpu"
    assert set(runtime["precision"]) == {"round0_train", "rounds_train", "inference"}
    assert all(p in ("bf16", "fp32") for p in runtime["precision"].values())  # never "auto"
    assert "avx2" in runtime["cpu"] and "GFLOP/s" in runtime["cpu"] and runtime["threads"] >= 1


def test_inference_precision_is_its_own_setting_and_defaults_to_the_rounds():
    import torch

    from selfimprove.runtime import inference_precision

    cpu = torch.device("cpu")
    assert inference_precision(load_config(SMOKE, ["rounds.train.precision=bf16"]), cpu) == "bf16"  # as before
    assert inference_precision(load_config(SMOKE, ["rounds.train.precision=bf16", "eval.precision=fp32"]), cpu) == "fp32"


def test_evaluation_covers_every_trained_length_and_the_window_above():
    from selfimprove.rounds import eval_cells

    trained = list(range(1, 11))
    plain = load_config(SMOKE, ["eval.low=1", "eval.high=3", "eval.ahead=2"])
    assert eval_cells(plain, trained) == [1, 2, 3, 11, 12]  # the old grid skips 4..10
    every = load_config(SMOKE, ["eval.low=1", "eval.high=3", "eval.ahead=2", "eval.trained=true"])
    assert eval_cells(every, trained) == list(range(1, 13))


def test_rounds_train_on_d0_only_when_asked():
    from selfimprove.rounds import training_sets

    d0, d1, d2 = "D0", "D1", "D2"
    assert training_sets([d0, d1, d2], 2, keep_round0=True) == [d0, d1, d2]
    assert training_sets([d0, d1, d2], 2, keep_round0=False) == [d1, d2]  # paper C.3.2, copy/reverse
    assert training_sets([d0], 0, keep_round0=False) == [d0]  # round 0 is D0
    assert training_sets([d0, None], 1, keep_round0=False) == [d0]  # everything filtered: D0 remains
    assert training_sets([d0, None, d2], 2, keep_round0=True) == [d0, d2]


def test_problems_per_difficulty_labels_that_many_at_each(tmp_path):
    overrides = ["rounds.count=1", "rounds.schedule={kind: increment, step: 2}", "rounds.problems_per=difficulty",
                 "rounds.problems=12", "round0.train.steps=30", "rounds.train.steps=15", "rounds.filters=[]"]
    run_rounds(load_config(SMOKE, overrides), tmp_path, log=lambda line: None)
    labels = [json.loads(line) for line in (tmp_path / "round_001" / "labels.jsonl").read_text().splitlines()]
    assert sorted(x["difficulty"] for x in labels) == [4] * 12 + [5] * 12


def test_a_run_directory_from_before_a_new_key_still_resumes(smoke_run, tmp_path):
    """config.yaml written before eval.trained (etc.) existed is the same experiment at the defaults."""
    import shutil

    import yaml

    from selfimprove.layout import RunDir
    from selfimprove.resume import prepare_run_dir

    old = tmp_path / "old"
    shutil.copytree(smoke_run, old)
    stored = yaml.safe_load((old / "config.yaml").read_text())
    del stored["eval"]["trained"], stored["rounds"]["mixture"], stored["scale"]
    (old / "config.yaml").write_text(yaml.safe_dump(stored, sort_keys=False))
    prepare_run_dir(load_config(SMOKE), RunDir(old))  # accepted
    with pytest.raises(Exception, match="different config"):
        prepare_run_dir(load_config(SMOKE, ["rounds.mixture=uniform"]), RunDir(old))


def test_lr_decay_lowers_each_rounds_peak_and_nothing_else(tmp_path, monkeypatch):
    from selfimprove import rounds
    from selfimprove.config import ConfigError
    from selfimprove.run import round_train

    cfg = load_config(SMOKE, ["rounds.lr_decay=0.5"])
    assert round_train(cfg, 0) == cfg.round0.train and round_train(cfg, 1) == cfg.rounds.train
    assert round_train(cfg, 3).lr == cfg.rounds.train.lr / 4
    assert round_train(cfg, 3).steps == cfg.rounds.train.steps and round_train(cfg, 3).decay_steps == cfg.rounds.train.decay_steps
    peaks, real = {}, rounds.train_steps

    def spy(model, opt, tcfg, *args, desc=None, **kwargs):
        peaks[desc] = tcfg.lr
        return real(model, opt, tcfg, *args, desc=desc, **kwargs)

    monkeypatch.setattr(rounds, "train_steps", spy)
    run_rounds(cfg, tmp_path, log=lambda line: None)
    assert peaks == {"train r1 m0": 0.001, "train r2 m0": 0.0005}
    for bad in ("0", "1.5"):
        with pytest.raises(ConfigError, match="lr_decay"):
            load_config(SMOKE, [f"rounds.lr_decay={bad}"])
