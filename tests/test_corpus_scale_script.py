"""benchmarks/corpus_scale.py times the token-cache build per size in a fresh process (tiny sizes here)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "corpus_scale.py"
DEV_TSV = ROOT.parent / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"
RINNA_SPM = ROOT.parent / "shared" / "tokenizers" / "rinna-japanese-gpt2" / "spiece.model"


def test_cache_path_reports_tokens_rss_and_ratios_per_size(tmp_path):
    if not (DEV_TSV.is_file() and RINNA_SPM.is_file()):
        pytest.skip("../shared (open2ch sample, rinna tokenizer) not found")
    source = tmp_path / "small.tsv"
    source.write_text("".join(DEV_TSV.read_text(encoding="utf-8").splitlines(keepends=True)[:100]), encoding="utf-8")
    cmd = [sys.executable, str(SCRIPT), "--source", str(source), "--sizes", "1,2", "--what", "cache"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("cache ") and "×" in line.split()[1]]
    assert [r[1] for r in rows] == ["1×", "2×"]
    tokens = [int(r[2].replace(",", "")) for r in rows]
    assert tokens[1] >= 2 * tokens[0] - 128  # twice the corpus, twice the tokens (less at most one ragged block)
    assert all(float(r[5]) > 100 for r in rows)  # peak RSS in MB: a real child's, not this process's
    assert "cache: ratio" in done.stdout and "cache: time ratio" in done.stdout
