"""corpus_stats/: the corpus side of the analysis, collected in the audit's stream and read back exactly."""

import json
import subprocess
import sys

import pytest

from conftest import write_inputs
from harness.analysis.corpus_audit import audit_corpus_docs
from harness.analysis.corpus_stats import CorpusStats, read_corpus_stats
from harness.analysis.memorization import window_hashes
from harness.analysis.suite import AnalysisSuite
from harness.config import AnalysisConfig, CorpusConfig
from harness.data.corpus import iter_corpus
from harness.errors import InputError
from harness.record.rundir import RunDir


def collect(tmp_path, workers: int) -> CorpusStats:
    files = write_inputs(tmp_path)
    config = AnalysisConfig(lexicons=[files["lexicon"]], memorization_chars=8)
    stats = CorpusStats.empty(config)
    corpus = CorpusConfig(path=files["corpus"], format="open2ch")
    audit_corpus_docs(AnalysisSuite(config), iter_corpus(corpus), workers=workers, stats=stats)
    return stats


def test_the_worker_pool_collects_what_one_process_collects(tmp_path):
    one, pool = collect(tmp_path, 1), collect(tmp_path, 2)
    assert one.lemmas == pool.lemmas and sum(one.lemmas.values()) > 10
    assert one.index.hashes().tolist() == pool.index.hashes().tolist()
    assert (one.pii.n, one.pii.counts) == (pool.pii.n, pool.pii.counts)


def test_window_hashes_do_not_depend_on_the_process():
    """Python's hash() is salted per process: an index stored by the audit would miss every lookup later."""
    code = "from harness.analysis.memorization import window_hashes; print(window_hashes('吾輩は猫である', 3).tolist())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(other) == window_hashes("吾輩は猫である", 3).tolist()
    assert window_hashes("吾輩は猫である", 3).tolist()[:1] == window_hashes("吾輩は", 3).tolist()


def test_another_stats_version_is_refused_with_what_to_do(run_dir):
    path = run_dir / "corpus_stats" / "stats.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**data, "version": 99}), encoding="utf-8")
    with pytest.raises(InputError, match="corpus stats version 99 .* rerun the run with --force"):
        read_corpus_stats(RunDir.open(run_dir))


def test_a_run_without_stats_names_the_missing_file(run_dir):
    (run_dir / "corpus_stats" / "stats.json").unlink()
    with pytest.raises(InputError, match=r"corpus_stats/stats.json: missing: rerun the audit stage"):
        read_corpus_stats(RunDir.open(run_dir))
