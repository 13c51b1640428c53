from harness.data.split import heldout_score, is_heldout


def test_split_is_stable_and_near_the_fraction():
    texts = [f"文書{i}です" for i in range(5000)]
    held = [t for t in texts if is_heldout(t, seed=7, fraction=0.1)]
    assert 400 < len(held) < 600
    assert held == [t for t in texts if is_heldout(t, seed=7, fraction=0.1)]
    # another seed draws another split
    assert held != [t for t in texts if is_heldout(t, seed=8, fraction=0.1)]


def test_score_is_in_unit_interval_and_depends_only_on_text_and_seed():
    assert 0.0 <= heldout_score("ww", 1) < 1.0
    assert heldout_score("ww", 1) == heldout_score("ww", 1)
    assert heldout_score("ww", 1) != heldout_score("ww", 2)
