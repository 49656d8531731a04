"""Error taxonomy: hand-made wrong answers are classified the way a person would."""

from selfimprove.taxonomy import (
    align,
    cot_error,
    digit_error,
    first_mismatch,
    first_wrong_step,
    summarise,
)


def test_a_skipped_digit_is_one_drop_not_a_cascade_of_wrong_digits():
    err = digit_error("75301", "7301")
    assert err["dropped"] == [1] and err["wrong"] == [] and err["short"]
    assert err["first_mismatch"] == 1


def test_a_wrong_digit_has_its_signed_offset():
    err = digit_error("7530", "7630")
    assert err == {"short": False, "long": False, "first_mismatch": 1, "dropped": [], "wrong": [1], "extra": [],
                   "off_by": [1]}
    assert digit_error("7530", "7520")["off_by"] == [-1]


def test_extra_digits_and_mixed_errors():
    err = digit_error("123", "12934")
    assert err["long"] and len(err["extra"]) == 2 and err["dropped"] == []
    mixed = digit_error("123456", "12356")  # 4 dropped
    assert mixed["dropped"] == [3] and mixed["wrong"] == []


def test_alignment_covers_both_strings_in_order():
    ops = align("90210", "9211")
    assert [i for _, i, _ in ops if i is not None] == list(range(5))
    assert [j for _, _, j in ops if j is not None] == list(range(4))


def test_first_mismatch_counts_the_end_of_a_prefix():
    assert first_mismatch("1234", "12") == 2
    assert first_mismatch("1234", "1234") is None


def test_summary_over_a_hand_made_set():
    pairs = [("7530", "7530"), ("7530", "730"), ("7530", "7630"), ("7530", "7520"), ("7530", "753")]
    s = summarise(pairs)
    assert s["wrong_answers"] == 4
    assert s["short_share"] == 0.5
    assert s["off_by"] == {"-1": 1, "1": 1}
    assert s["per_position"] == {"1": {"dropped": 1, "wrong": 1}, "2": {"dropped": 0, "wrong": 1},
                                 "3": {"dropped": 1, "wrong": 0}}
    assert s["first_mismatch"] == {"1": 2, "2": 1, "3": 1}
    assert s["lengths"] == {"4": {"3": 2, "4": 2}}


def test_answer_lengths_show_a_cap_on_the_answer():
    # A base trained on 8-digit sums (9-token answers) answering 9- and 10-digit ones with 9 tokens.
    pairs = [("8979328501", "897932801"), ("76302590021", "767213621"), ("76302590021", "7630259002")]
    assert summarise(pairs)["lengths"] == {"10": {"9": 1}, "11": {"9": 1, "10": 1}}


def test_chain_of_thought_steps():
    right = "17442+067801(132331)+0075180(1398490)+00091720=13976630"
    assert cot_error(right, "17442+067801(132331)=13976630") == "missing_steps"
    assert cot_error(right, right.replace("067801", "067802")) == "wrong_step"
    assert first_wrong_step(right, right.replace("067801", "067802")) == 1
    assert cot_error(right, right.replace("=13976630", "=13976631")) == "wrong_product"
    assert cot_error(right, "17442+0678+") == "format"
    assert cot_error(right, right.replace("=", "+1=")) == "extra_steps"
