"""filter_stats.json's diagnostic counts (label_records.label_stats, filter_scores)."""

from selfimprove.label_records import filter_scores, label_stats


def _row(kept: bool, correct: bool) -> dict:
    return {"model": 0, "prompt": "1+2=", "difficulty": 1, "label": "3", "answers": [], "kept": kept,
            "dropped_by": None if kept else "consistency", "correct": correct}


def test_both_sides_of_a_filter_precision_and_recall():
    # 4 right labels (3 kept, 1 dropped), 2 wrong ones (1 kept, 1 dropped)
    rows = [_row(True, True)] * 3 + [_row(False, True), _row(True, False), _row(False, False)]
    stats = label_stats(1, [1], rows, [[]])
    assert (stats["labelled"], stats["kept"]) == (6, 4)
    assert stats["label_accuracy"] == 4 / 6 and stats["kept_accuracy"] == 3 / 4 and stats["right_kept"] == 3 / 4


def test_an_exact_filter_keeps_every_right_label_and_no_wrong_one():
    rows = [_row(True, True)] * 2 + [_row(False, False)] * 8  # 20% right, all of it kept
    stats = label_stats(1, [1], rows, [[]])
    assert stats["kept_accuracy"] == 1.0 and stats["right_kept"] == 1.0 and stats["label_accuracy"] == 0.2


def test_recall_is_none_not_zero_when_no_label_was_right():
    stats = label_stats(1, [1], [_row(True, False), _row(False, False)], [[]])
    assert stats["right_kept"] is None and stats["kept_accuracy"] == 0.0


def test_relabelled_and_new_difficulties_are_scored_alike():
    rows = [_row(True, True), _row(False, True), _row(True, False)]
    stats = label_stats(1, [1], rows, [[]])
    assert filter_scores(rows) == {k: stats[k] for k in ("kept_accuracy", "right_kept")} == \
        {"kept_accuracy": 0.5, "right_kept": 0.5}
