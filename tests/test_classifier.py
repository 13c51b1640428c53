"""The learned second detector: training (deterministic, blind split kept out), numpy scoring, the plug-in."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from harness.analysis.classifier import CLF_FLAGGED, CLF_TOXICITY, combine_detectors, load_model  # noqa: E402
from harness.analysis.suite import AnalysisSuite  # noqa: E402
from harness.commands import build_config  # noqa: E402
from harness.config import AnalysisConfig, classifier_files  # noqa: E402
from harness.errors import ConfigError, InputError  # noqa: E402
from harness.labels.labelfile import MERGED_COLUMNS  # noqa: E402
from harness.labels.ood import OOD_COLUMNS  # noqa: E402
from harness.resources import CLASSIFIER_ENV  # noqa: E402
from harness.scorer.data import Example, training_set  # noqa: E402
from harness.scorer.train import (  # noqa: E402
    PRECISION_FLOOR,
    Candidate,
    best_threshold,
    domain_balance,
    fit,
    fold_ids,
    train,
)
from conftest import load_benchmark  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HEADER = ",".join(MERGED_COLUMNS)
# a made-up insult (ズンドコ) that no lexicon lists: only a learned detector can find it
TOXIC = [f"おい{n}番のズンドコ野郎はさっさと消えろズンドコ" for n in range(14)] + [
    f"ズンドコな{w}は黙ってろ" for w in ("あいつ", "お前", "そいつ", "こいつ", "奴", "君", "あんた", "貴様")
]
CLEAN = [f"今日は{w}で散歩して{n}時に帰りました" for n in range(6) for w in ("公園", "駅前", "川沿い", "海辺", "山道")]
FAST = [Candidate(1, 2, 10.0, False)]


def write_data(tmp: Path) -> tuple[Path, Path]:
    """A tiny corpus (label column + posts) and a merged label file over it; lines 1-2 are the blind split.

    Line 3 repeats line 1's post under a dev key: it must not train either.
    """
    posts = ["ズンドコ野郎の秘密の投稿", "公園の秘密の投稿です", "ズンドコ野郎の秘密の投稿", *TOXIC, *CLEAN]
    corpus = tmp / "dev.tsv"
    corpus.write_text("".join(f"0\t{p}\n" for p in posts), encoding="utf-8")
    rows = []
    for line, text in enumerate(posts, start=1):
        split = "test" if line <= 2 else "dev"
        toxic = "ズンドコ" in text
        rows.append(f"{line},1,{split},rest,{2.0 if toxic else 5.0},{'toxic' if toxic else 'clean'},"
                    f"{'insult' if toxic else ''},t,1")
    labels = tmp / "labels.csv"
    labels.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return labels, corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("clf")
    labels, corpus = write_data(tmp)
    train([labels], corpus, tmp / "model", candidates=FAST)
    return labels, corpus, tmp / "model"


def test_blind_split_rows_never_reach_training(trained):
    labels, corpus, folder = trained
    examples, dropped = training_set([labels], corpus)
    keys = {e.ref for e in examples}
    assert not keys & {"1,1", "2,1"}  # the test split
    assert "3,1" not in keys and dropped == 1  # the blind post's text under a dev key
    assert len(examples) == len(TOXIC) + len(CLEAN)
    assert json.loads((folder / "model.json").read_text())["training"]["posts"] == len(examples)


def test_training_is_byte_identical(trained, tmp_path):
    labels, corpus, folder = trained
    train([labels], corpus, tmp_path / "again", candidates=FAST)
    for first, second in zip(classifier_files(folder), classifier_files(tmp_path / "again")):
        assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize(
    "cand", [Candidate(1, 2, 10.0, False), Candidate(1, 3, 3.0, True), Candidate(1, 3, 10.0, False, True)]
)
def test_numpy_scoring_equals_sklearn(tmp_path, cand):
    labels, corpus = write_data(tmp_path)
    train([labels], corpus, tmp_path / "m", candidates=[cand])
    examples, _ = training_set([labels], corpus)
    vectorizer, model = fit(examples, cand)
    texts = [e.text for e in examples] + ["全く関係のない文", ""]
    expected = model.predict_proba(vectorizer.transform(texts))[:, 1]
    got = load_model(tmp_path / "m").probabilities(texts)
    assert np.max(np.abs(got - expected)) < 1e-9


def test_model_folder_holds_no_pickle(trained):
    _, _, folder = trained
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "weights.npz"]
    with zipfile.ZipFile(folder / "weights.npz") as npz:
        assert sorted(npz.namelist()) == ["coef.npy", "idf.npy"]
    with np.load(folder / "weights.npz", allow_pickle=False) as arrays:
        assert all(arrays[k].dtype == np.float64 for k in arrays.files)
    meta = json.loads((folder / "model.json").read_text())
    assert meta["training"]["guideline"] >= 1 and len(meta["training"]["texts_sha256"]) == 64
    assert meta["calibration_curve"] and meta["versions"]["scikit-learn"]


def test_plugin_adds_columns_and_combines_flagged(trained):
    _, _, folder = trained
    suite = AnalysisSuite(AnalysisConfig(detectors=["lexicon", f"classifier:{folder}"]))
    names = [m.name for m in suite.catalogue()]
    assert CLF_TOXICITY in names and CLF_FLAGGED in names
    hit = suite.score_text("ズンドコなお前は黙ってろズンドコ")
    assert hit.values[CLF_FLAGGED] == 1 and hit.values["flagged"] == 1
    assert "classifier" in hit.details["detectors"].split(";")
    assert hit.values["toxicity"] >= hit.values[CLF_TOXICITY]
    calm = suite.score_text("今日は公園で散歩しました")
    assert calm.values[CLF_FLAGGED] == 0 and calm.values["flagged"] == 0 and calm.details["detectors"] == ""
    # a batch (score_many, then combine per text) gives each text what score_text gives
    batch = suite.score_texts(["今日は公園で散歩しました", "ズンドコなお前は黙ってろズンドコ"])
    assert [(s.values, s.details) for s in batch] == [(calm.values, calm.details), (hit.values, hit.details)]
    plain = AnalysisSuite(AnalysisConfig(detectors=["lexicon"]))
    assert CLF_TOXICITY not in [m.name for m in plain.catalogue()]


def test_the_default_detectors_are_the_lexicon_and_the_built_classifier(trained, monkeypatch, capsys):
    """``AnalysisConfig()`` flags with the default classifier where one is built, else with the lexicon and one
    note line (tests/conftest.py points the default at a folder that does not exist)."""
    import harness.analysis.classifier as clf

    assert AnalysisConfig().detectors == ["lexicon", "classifier"]
    monkeypatch.setattr(clf, "_NOTED", set())
    assert CLF_TOXICITY not in [m.name for m in AnalysisSuite(AnalysisConfig()).catalogue()]
    assert capsys.readouterr().err.count("is not built (make classifier); lexicon only") == 1
    monkeypatch.setenv(CLASSIFIER_ENV, str(trained[2]))
    suite = AnalysisSuite(AnalysisConfig())
    assert CLF_FLAGGED in [m.name for m in suite.catalogue()]
    assert suite.score_text("ズンドコなお前は黙ってろズンドコ").values["flagged"] == 1


def test_combination_rule():
    values = {"flagged": 1, "toxicity": 0.5, CLF_TOXICITY: 0.2, CLF_FLAGGED: 0}
    details = {"detectors": "lexicon"}
    combine_detectors(values, details)
    assert values["flagged"] == 1 and values["toxicity"] == 0.5 and details["detectors"] == "lexicon"
    values = {"flagged": 0, "toxicity": 0.0, CLF_TOXICITY: 0.8, CLF_FLAGGED: 1}
    combine_detectors(values, details := {"detectors": ""})
    assert values["flagged"] == 1 and values["toxicity"] == 0.8 and details["detectors"] == "classifier"


def test_missing_model_folder_is_refused_before_work(tmp_path):
    from harness.pipeline import check_inputs

    config = build_config(name="x", analysis={"detectors": ["lexicon", f"classifier:{tmp_path / 'none'}"]})
    with pytest.raises(ConfigError, match=r"analysis\.detectors\[1\]: classifier model folder not found"):
        check_inputs(config, ["analyse"])
    corpus = tmp_path / "c.txt"
    corpus.write_text("こんにちは\n", encoding="utf-8")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "harness", "audit", str(corpus), "--classifier", str(tmp_path / "none")]
    cmd += ["--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1 and not out.exists()
    assert done.stderr.count("\n") == 1 and "analysis.detectors[1]" in done.stderr


def test_corrupt_model_folder_names_the_key(trained, tmp_path):
    _, _, folder = trained
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_text("{", encoding="utf-8")
    (bad / "weights.npz").write_bytes((folder / "weights.npz").read_bytes())
    with pytest.raises(ConfigError, match=r"analysis\.detectors\[1\]: .*not a readable classifier model folder"):
        AnalysisSuite(AnalysisConfig(detectors=["lexicon", f"classifier:{bad}"]))
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "nowhere")


def test_model_is_a_hashed_guarded_input(trained, tmp_path):
    from harness.pipeline import new_record
    from harness.stages import check_analysis_inputs_unchanged

    _, _, folder = trained
    copy = tmp_path / "model"
    copy.mkdir()
    for f in classifier_files(folder):
        (copy / f.name).write_bytes(f.read_bytes())
    config = build_config(name="x", analysis={"detectors": ["lexicon", f"classifier:{copy}"]})
    record = new_record(config, ["analyse"])
    assert {str(p) for p in classifier_files(copy)} <= set(record.hashes)
    check_analysis_inputs_unchanged(config, record)
    meta = json.loads((copy / "model.json").read_text())
    meta["threshold"] = 0.01
    (copy / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(InputError, match="model.json"):
        check_analysis_inputs_unchanged(config, record)


def test_detectors_config_is_checked():
    with pytest.raises(Exception, match="must include 'lexicon'"):
        AnalysisConfig(detectors=["classifier:/x"])
    with pytest.raises(Exception, match="is not 'lexicon'"):
        AnalysisConfig(detectors=["lexicon", "bert"])


POSTS = ROOT.parent / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"
DEFAULT = ROOT / "build" / "classifier"


def makefile_labels() -> list[Path]:
    """The label files ``make classifier`` trains the default classifier on (the Makefile says which)."""
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        if line.startswith("CLASSIFIER_LABELS :="):
            return [ROOT / p for p in line.split(":=", 1)[1].split()]
    raise AssertionError("Makefile has no CLASSIFIER_LABELS")


@pytest.mark.skipif(
    not POSTS.is_file() or not (DEFAULT / "model.json").is_file(), reason="no ../shared or make classifier"
)
def test_default_classifier_rebuilds_byte_identically(tmp_path):
    labels = makefile_labels()
    assert ROOT / "labels" / "ood-written.csv" in labels
    train(labels, POSTS, tmp_path / "again")
    for first, second in zip(classifier_files(DEFAULT), classifier_files(tmp_path / "again")):
        assert first.read_bytes() == second.read_bytes(), first.name


def test_quality_file_entries_match_the_runs_that_use_them(trained, tmp_path):
    """--write-quality with --classifier: a classifier run corrects with the combination's Se/Sp, a lexicon run
    with the lexicon's; the classifier entry depends on its model files only."""
    from types import SimpleNamespace

    from harness.analysis.prevalence import JudgedPost, load_calibration, measure_detector
    from harness.labels.labelfile import MERGED
    from harness.labels.merge import read_merged

    _, _, folder = trained
    bench = load_benchmark("flagging_quality")
    args = SimpleNamespace(classifier=folder, word_list=[])
    items = [JudgedPost("rest", 2.0, i % 3 == 0, i % 3 == 0 or i == 1) for i in range(30)]
    qualities = {}
    for name, (suite, measure) in bench.suites(args).items():
        inputs = bench.detector_inputs(name, suite, args)
        qualities[name] = measure_detector(name, measure, inputs, items, 200, 0, 1)
    assert [i.name for i in qualities["classifier"].inputs] == ["model.json", "weights.npz"]
    path = tmp_path / "quality.json"
    bench.write_quality(qualities, read_merged(MERGED), path)
    with_classifier = load_calibration(AnalysisConfig(detectors=["lexicon", f"classifier:{folder}"]), path)
    assert [(d.detector, d.measure) for d in with_classifier.detectors] == [("combined", "flagged")]
    lexicon_only = load_calibration(AnalysisConfig(), path)
    assert [(d.detector, d.measure) for d in lexicon_only.detectors] == [("lexicon", "flagged")]


def test_nested_cv_chooses_thresholds_inside_training_folds():
    """benchmarks/detector_cv.py: out-of-fold flags of a learner that sees only its training rows."""
    cv = load_benchmark("detector_cv")
    x = np.linspace(0, 1, 60)
    y, w = (x > 0.62).astype(int), np.ones(60)
    seen: list[set] = []

    def learner(tr, te):  # a step at the midpoint between the classes of the training rows only
        seen.append(set(tr.tolist()) & set(te.tolist()))
        cut = (x[tr][y[tr] == 0].max() + x[tr][y[tr] == 1].min()) / 2
        return (x[te] > cut).astype(float) * 0.9 + 0.05

    pred, chosen = cv.nested(learner, y, w)
    assert not any(seen) and len(chosen) == cv.FOLDS
    assert cv.weighted_prf(y, pred, w)["f1"] > 0.9
    assert cv.best_threshold(y, x, w, None) == 0.62  # the lowest of the perfect ones (0.610 < t ≤ 0.627)


def test_feature_blocks_sit_beside_each_other_out_of_fold():
    """benchmarks/classifier_features_cv.py: each block is fitted on the fold's training rows only, the
    blocks are joined side by side, and a dense block is standardised to about its block norm."""
    from scipy import sparse

    from harness.scorer.data import Example

    bench = load_benchmark("classifier_features_cv")
    dense = np.arange(40.0).reshape(20, 2)
    train_rows, test_rows = np.arange(15), np.arange(15, 20)
    x_train, x_test = bench.dense_block(dense, 2.0)(train_rows, test_rows)
    assert x_train.shape == (15, 2) and x_test.shape == (5, 2)
    # norm 2 × |z|: for an even spread of standardised values the mean |z| is about 0.87
    assert np.sqrt((x_train.toarray() ** 2).sum(axis=1)).mean() == pytest.approx(1.73, abs=0.1)
    seen: list[set] = []

    def block(rows, held):  # the row index as one feature; records what it was fitted on
        seen.append(set(rows.tolist()) & set(held.tolist()))
        return tuple(sparse.csr_matrix(np.c_[part, np.ones(len(part))].astype(float)) for part in (rows, held))

    examples = [Example(f"r{i}", f"t{i}", int(i % 2), 1.0, "f", "", "forum") for i in range(40)]
    prob = bench.cross_validated(examples, [block, block], 1.0)
    assert len(prob) == 40 and not any(seen) and ((0 <= prob) & (prob <= 1)).all()


@pytest.mark.parametrize(
    "args, code", [(["--scales", "a,b"], 2), (["--spiece", "MISSING"], 1), (["--spiece", "BAD"], 1)]
)
def test_feature_benchmark_bad_input_is_one_line(tmp_path, args, code):
    """benchmarks/classifier_features_cv.py: bad options and model files end with one line, nothing computed."""
    if not POSTS.is_file() and code == 1:
        pytest.skip(f"{POSTS} missing: the script stops before its inputs are read")
    bad = tmp_path / "bad.model"
    bad.write_text("not a model", encoding="utf-8")
    args = [str({"MISSING": tmp_path / "none.model", "BAD": bad}.get(a, a)) for a in args]
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "classifier_features_cv.py"), *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == code and "objective" not in done.stdout
    lines = done.stderr.strip().splitlines()
    if code == 2:  # argparse: its usage, then the one error line
        assert lines[-1].startswith("classifier_features_cv.py: error: --scales")
    else:
        assert len(lines) == 1 and lines[0].startswith("classifier_features_cv: ")


def write_written(tmp: Path) -> Path:
    """A written-set file (text in the file, ids by batch): batches a and b train, a test row is blind."""
    rows = [",".join(OOD_COLUMNS)]
    for n in range(10):  # texts unlike the forum file's, which would train once only
        rows.append(f"{'ab'[n % 2]}{n:03d},書き込み{n}のズンドコは黙れ,insult_person,toxic,insult,dev")
        rows.append(f"{'ab'[n % 2]}{n + 100:03d},書き込み{n}の写真は綺麗,neutral,clean,,dev")
    rows.append("c001,書き込みの秘密,neutral,clean,,test")
    rows.append("c002,書き込みの秘密,neutral,clean,,dev")  # the blind item's text again under a dev id
    path = tmp / "written.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_written_set_trains_with_its_batches_as_groups(tmp_path, monkeypatch):
    import harness.labels.ood as ood

    monkeypatch.setattr(ood, "ood_split", lambda item_id, salt=None: "test" if item_id == "c001" else "dev")
    labels, corpus = write_data(tmp_path)
    examples, dropped = training_set([labels, write_written(tmp_path)], corpus)
    written = [e for e in examples if e.source == "written.csv"]
    assert len(written) == 20 and dropped == 2  # c001 is blind, c002 repeats its text; line 3 as before
    assert {e.group for e in written} == {"a", "b"} and {e.domain for e in written} == {"written.csv"}
    assert {e.domain for e in examples if e.source == "labels.csv"} == {"dev.tsv"}
    assert not any(e.group for e in examples if e.source == "labels.csv")


def test_held_out_batches_never_train_and_their_texts_are_blind(tmp_path, monkeypatch):
    import harness.labels.ood as ood

    monkeypatch.setattr(ood, "ood_split", lambda item_id, salt=None: "test" if item_id == "c001" else "dev")
    path = write_written(tmp_path)
    held = sorted(ood.HELD_OUT_BATCHES)[0]
    with path.open("a", encoding="utf-8") as out:  # a held-out dev item, and its text again under a batch that trains
        out.write(f"{held}001,書き込みのズンドコ死ね,threat,toxic,threat,dev\na200,書き込みのズンドコ死ね,threat,toxic,threat,dev\n")
    labels, corpus = write_data(tmp_path)
    examples, dropped = training_set([labels, path], corpus)
    assert not any(e.ref in (f"{held}001", "a200") for e in examples)  # neither trains, though both are dev
    assert dropped == 3  # c002 and line 3 as before, and a200
    assert [it.part for it in ood.read_ood(path) if it.id.startswith(held)] == [ood.HELD_OUT]


def test_grouped_rows_are_held_out_a_whole_batch_at_a_time():
    examples = [Example(f"{g}{i}", "x", i % 2, 1.0, "w", g, "w") for g in "abcdefg" for i in range(4)]
    examples += [Example(str(i), "x", i % 2, 1.0, "f", "", "f") for i in range(20)]
    folds = fold_ids(examples)
    by_group = {}
    for e, k in zip(examples, folds):
        if e.group:
            by_group.setdefault(e.group, set()).add(int(k))
    assert all(len(ks) == 1 for ks in by_group.values())  # a batch never straddles folds
    assert set(folds[-20:]) == set(range(5))  # ungrouped rows spread over every fold


def test_domain_balance_gives_every_kind_of_text_the_same_total():
    examples = [Example(f"f{i}", "x", i % 2, 9.0, "f", "", "forum") for i in range(30)]
    examples += [Example(f"w{i}", "x", i % 2, 1.0, "w", "g", "written") for i in range(10)]
    w = domain_balance(examples)
    assert w[:30].sum() == pytest.approx(w[30:].sum()) and w.mean() == pytest.approx(1.0)
    assert set(np.round(w[:30], 9)) == {round(40 / 60, 9)} and set(np.round(w[30:], 9)) == {2.0}  # not the strata


def test_threshold_keeps_every_kind_of_text_at_the_precision_floor():
    """The best mean F1 would come from a threshold that costs the forum its precision: refused."""
    forum = [Example(f"f{i}", "x", int(i < 40), 1.0, "f", "", "forum") for i in range(100)]
    written = [Example(f"w{i}", "x", int(i < 10), 1.0, "w", "g", "written") for i in range(20)]
    lexicon = np.array([i < 10 for i in range(100)] + [i < 10 for i in range(20)])
    # forum: 10 more toxic posts at 0.7; 20 more toxic and 30 non-toxic at 0.35 (precision 40/70 = 0.57)
    prob = np.array([0.7 if 10 <= i < 20 else 0.35 if 20 <= i < 70 else 0.01 for i in range(100)] + [0.01] * 20)
    score, threshold = best_threshold(forum + written, prob, lexicon)
    assert 40 / 70 < PRECISION_FLOOR  # t ≤ 0.35 would give the forum F1 0.727 (mean 0.864) at precision 0.57
    assert threshold == 0.36 and score == round((2 * 0.5 / 1.5 + 1.0) / 2, 12)  # forum F1 0.667 at precision 1


def test_packed_ngram_search_finds_what_the_dict_lookup_finds(trained):
    """The batch paths (the C scan where built, packed numpy keys) equal char_ngrams + dict on awkward texts."""
    model = load_model(trained[2])
    texts = ["", " ", "ズンドコ  な\nお前", "𠮷野家でズンドコ𠮷", "\x00ズ\x00ン", "ズ", "公園で散歩しました", "ｗｗｗ"]
    packed = model.decision(texts)
    model.grams, model.native = None, False  # the dict path
    assert np.array_equal(packed, model.decision(texts))
