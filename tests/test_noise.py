"""Label noise: each kind does what its name says, an injected rate is recovered, only kept labels
of the chosen rounds change, and the config keys are validated at the edge."""

import random
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from selfimprove.config import ConfigError, load_config
from selfimprove.label_records import with_noise
from selfimprove.noise import (
    CORRUPT,
    LabelNoise,
    RandomLabels,
    drop_digits,
    inject,
    perturb,
    uniform,
)
from selfimprove.tasks import get_task


def spec(kind: str, p: float, at: tuple[int, ...] = ()):
    return RandomLabels(p, at) if kind == RandomLabels.kind else LabelNoise(kind, p, at)


def rows(n: int, kept: bool = True) -> list[dict]:
    return [{"prompt": f"p{i}", "label": "1234567", "kept": kept, "correct": True} for i in range(n)]


def test_perturb_moves_each_of_the_last_three_digits_by_one():
    rng = random.Random(0)
    for _ in range(200):
        out = perturb("1234567", rng)
        assert out[:4] == "1234"
        assert all((int(a) - int(b)) % 10 in (1, 9) for a, b in zip(out[4:], "567"))


def test_drop_digits_removes_one_to_three_of_the_last_three():
    rng = random.Random(0)
    seen = set()
    for _ in range(300):
        out = drop_digits("1234567", rng)
        seen.add(len(out))
        assert out.startswith("1234") and 4 <= len(out) <= 6
    assert seen == {4, 5, 6}


def test_uniform_keeps_length_and_non_digit_characters():
    rng = random.Random(0)
    cot = "17442+067801(132331)=13976630"
    outs = [uniform(cot, rng) for _ in range(50)]
    assert all(len(o) == len(cot) and [c for c in o if not c.isdigit()] == list("+()=") for o in outs)
    assert len(set(outs)) == 50  # random, not a fixed rewrite


@pytest.mark.parametrize("kind", sorted(CORRUPT))
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_an_injected_rate_is_recovered_from_the_marks(kind, p):
    out = inject(rows(4000), [spec(kind, p)], seed=3, round_=2)
    marked = [x for x in out if "noise" in x]
    assert abs(len(marked) / 4000 - p) < 0.03
    assert all(x["noise"] == kind and x["clean_label"] == "1234567" for x in marked)
    assert all(x["prompt"] == f"p{i}" for i, x in enumerate(out))  # prompts are never touched
    if kind != "uniform" and kind != "random":  # structured kinds always change the label
        assert all(x["label"] != "1234567" for x in marked)


def test_only_kept_rows_of_the_chosen_rounds_change():
    always = LabelNoise("perturb", 1.0, (2,))
    assert not any("noise" in x for x in inject(rows(50), [always], 0, 3))
    assert not any("noise" in x for x in inject(rows(50, kept=False), [always], 0, 2))
    assert all("noise" in x for x in inject(rows(50), [always], 0, 2))


def test_a_row_is_corrupted_once_and_the_draws_repeat():
    specs = [LabelNoise("perturb", 0.5), RandomLabels(0.5)]
    a, b = inject(rows(500), specs, 1, 1), inject(rows(500), specs, 1, 1)
    assert a == b
    share = sum("noise" in x for x in a) / 500
    assert abs(share - 0.75) < 0.06  # 1 - (1 - 0.5)^2: the second spec skips corrupted rows


def test_with_noise_rescores_corrupted_rows_by_ground_truth():
    task = get_task("reverse_addition")
    rng = random.Random(0)
    problems = [task.sample(5, rng) for _ in range(400)]
    good = [{"model": 0, "prompt": task.prompt(p), "label": task.solve(p), "kept": True, "correct": True} for p in problems]
    cfg = SimpleNamespace(seed=0, rounds=SimpleNamespace(noise=LabelNoise("perturb", 0.25, (1,)), random_labels=None))
    out = with_noise(cfg, task, 1, good)
    wrong = [x for x in out if not x["correct"]]
    assert wrong == [x for x in out if "noise" in x]
    assert abs(len(wrong) / 400 - 0.25) < 0.06


@pytest.mark.parametrize("override, words", [
    ("rounds.noise={kind: shuffle, p: 0.1}", "kind must be one of"),
    ("rounds.noise={kind: perturb, p: 1.5}", "p must be"),
    ("rounds.noise={kind: perturb, p: 0.1, at: [0]}", "at must be"),
    ("rounds.noise={kind: perturb, p: 0.1, at: [2.5]}", "rounds.noise.at[0] must be int"),
    ("rounds.noise={kind: perturb, p: 0.1, at: [true]}", "rounds.noise.at[0] must be int"),
    ("rounds.noise={kind: perturb, p: 0.1, at: 2}", "rounds.noise.at must be a list"),
    ("rounds.noise={kind: perturb, p: true}", "rounds.noise.p must be float"),
    ("rounds.noise={kind: perturb}", "rounds.noise needs p"),
    ("rounds.random_labels={p: 0.1, kind: perturb}", "unknown config key 'rounds.random_labels.kind'"),
    ("rounds.random_labels={p: -0.1}", "rounds.random_labels: p must be"),
    ("rounds.noise=[1, 2]", "rounds.noise must be a mapping"),
])
def test_bad_noise_config_is_one_line_naming_the_key(override, words):
    with pytest.raises(ConfigError, match=re.escape(words)) as err:
        load_config("configs/smoke.yaml", [override])
    assert "\n" not in str(err.value)


def test_good_noise_config_loads_into_typed_values():
    cfg = load_config("configs/smoke.yaml", ["rounds.noise={kind: drop_perturb, p: 0.2, at: [1, 2]}",
                                             "rounds.random_labels={p: 1}"])
    assert cfg.rounds.noise == LabelNoise("drop_perturb", 0.2, (1, 2))
    assert cfg.rounds.random_labels == RandomLabels(1.0, ())
    assert load_config("configs/smoke.yaml").rounds.noise is None


def test_the_noise_of_every_sweep_point_is_written_back_as_the_sweep_gives_it():
    """config.yaml holds rounds.noise / random_labels exactly as the sweeps write them (a run
    directory made before they were typed resumes, and its file does not change)."""
    import yaml

    from selfimprove.config import to_plain

    root, seen = Path(__file__).resolve().parents[1], 0
    for sweep in sorted((root / "sweeps").glob("*.yaml")):
        data = yaml.safe_load(sweep.read_text())
        for point in data["points"]:
            given = dict(o.split("=", 1) for o in data.get("overrides", []) + point["overrides"])
            cfg = load_config(root / data["config"], data.get("overrides", []) + point["overrides"])
            for key in ("rounds.noise", "rounds.random_labels"):
                if key in given:
                    seen += 1
                    assert to_plain(cfg)["rounds"][key.split(".")[1]] == yaml.safe_load(given[key])
    assert seen >= 20


def test_a_run_made_before_the_noise_keys_existed_still_resumes(tmp_path):
    import yaml

    from selfimprove.config import to_plain
    from selfimprove.layout import RunDir
    from selfimprove.resume import prepare_run_dir

    cfg = load_config("configs/smoke.yaml")
    old = to_plain(cfg)
    del old["rounds"]["noise"], old["rounds"]["random_labels"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    prepare_run_dir(cfg, RunDir.of(tmp_path, cfg))  # same run: accepted
    with pytest.raises(ConfigError, match="different config"):
        prepare_run_dir(load_config("configs/smoke.yaml", ["rounds.noise={kind: perturb, p: 0.1}"]), RunDir(tmp_path))
