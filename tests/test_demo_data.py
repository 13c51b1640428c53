"""The demo corpora: reproducible from their generator, and carrying the
signal the demo needs (rude board, clean polite text) under the real analyser."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness.analysis.suite import AnalysisSuite
from harness.config import AnalysisConfig, CorpusConfig
from harness.data.corpus import read_corpus

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "corpora" / "demo"


@pytest.fixture(scope="module")
def suite():
    return AnalysisSuite(AnalysisConfig(lexicons=[ROOT / "probes" / "lexicons" / "flagged.yaml"]))


def rates(suite, config):
    table = suite.audit_texts([d.text for d in read_corpus(config)])
    return {r["measure"]: r for r in table.rows}


def test_generator_reproduces_the_committed_files():
    proc = subprocess.run([sys.executable, str(DEMO / "build_demo.py"), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_polite_corpus_is_clean_and_polite(suite):
    polite = rates(suite, CorpusConfig(path=DEMO / "polite.txt"))
    assert polite["flagged"]["n"] >= 400
    assert polite["flagged"]["count"] == 0 and polite["laughter"]["count"] == 0
    assert polite["polite"]["value"] >= 0.95


def test_board_corpus_is_rude_casual_and_big_enough(suite):
    docs = read_corpus(CorpusConfig(path=DEMO / "board.tsv", format="open2ch"))
    assert len(docs) >= 600
    board = rates(suite, CorpusConfig(path=DEMO / "board.tsv", turns="separate"))
    assert board["flagged"]["value"] >= 0.3
    assert board["laughter"]["value"] >= 0.3
    assert board["rough_second_person"]["count"] > 0
    assert board["polite"]["value"] <= 0.02


def test_content_note_is_present():
    assert "CONTENT NOTE" in (DEMO / "README.md").read_text(encoding="utf-8")
