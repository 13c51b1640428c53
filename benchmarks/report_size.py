"""Size of report.html (and render time) for 10k and 100k generations, against generations.jsonl.

Each size is a real run: the pipeline with the fake generator answering with
real forum posts (``../shared/corpora/open2ch-ranking-dev/dev.tsv``, else the
demo board corpus), the real analysis (lexicon flags, tone, summary), then
the report.  The baseline is the run's own generations.jsonl: ``ratio`` is
report.html bytes ÷ generations.jsonl bytes (the browser embeds every
generation once, with spans, seeds and ids, plus the report's tables).

    .venv/bin/python benchmarks/report_size.py --sizes 10000,100000

Content note: the shared posts contain rude language; only sizes are printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure this checkout, whatever harness the venv has installed

from harness.config import load_config  # noqa: E402
from harness.data.probes import load_probe_sets  # noqa: E402
from harness.models.fake import FakeGenerator  # noqa: E402
from harness.pipeline import run  # noqa: E402
from harness.record.rundir import RunDir  # noqa: E402
from harness.report.html import write_report  # noqa: E402

SHARED = ROOT.parent / "shared" / "corpora" / "open2ch-ranking-dev" / "dev.tsv"
PROBES = ROOT / "probes" / "demo.yaml"


def posts(limit: int = 20_000) -> list[str]:
    """Real forum posts (or the demo corpus when ../shared is absent), one per line's last column."""
    source = SHARED if SHARED.is_file() else ROOT / "corpora" / "demo" / "board.tsv"
    out: list[str] = []
    with source.open(encoding="utf-8") as fh:
        for line in fh:
            text = line.rstrip("\n").split("\t")[-1].replace(" __BR__ ", "\n")
            if text and not text.isdigit():
                out.append(text)
            if len(out) >= limit:
                break
    return out


def measure(generations: int, texts: list[str], work: Path) -> None:
    prompts = sum(len(s.probes) for s in load_probe_sets([PROBES]))
    samples = max(1, round(generations / (2 * prompts)))
    config_path = work / f"size{generations}.yaml"
    config_path.write_text(
        f"name: size{generations}\nbase: {{model: {work / 'base'}}}\n"
        f"finetune: {{tuned_model: {work / 'tuned'}}}\n"
        f"probes: {{files: [{PROBES}], samples_per_prompt: {samples}}}\n"
        f"analysis: {{lexicons: [{ROOT / 'probes/lexicons/flagged.yaml'}], bootstrap: 200}}\n"
        "export: {formats: []}\n",
        encoding="utf-8",
    )
    half = len(texts) // 2
    generator = FakeGenerator(completions={"base": texts[:half], "tuned": texts[half:]})
    started = time.perf_counter()
    result = run(load_config(config_path), out_dir=work / f"size{generations}", progress=False, log=lambda m: None,
                 generator=generator)  # fmt: skip
    pipeline_s = time.perf_counter() - started
    rundir = RunDir.open(result.run_dir)
    started = time.perf_counter()
    report = write_report(rundir)
    render_s = time.perf_counter() - started
    jsonl = (result.run_dir / "generations.jsonl").stat().st_size
    html = report.stat().st_size
    count = sum(1 for _ in (result.run_dir / "generations.jsonl").open(encoding="utf-8"))
    print(
        f"{count:>7,} generations: report.html {html / 1e6:7.1f} MB, generations.jsonl {jsonl / 1e6:7.1f} MB, "
        f"ratio {html / jsonl:.2f}; {html / count:,.0f} B per generation; render {render_s:.1f} s "
        f"(whole run {pipeline_s:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="generation counts, comma-separated")
    args = parser.parse_args()
    texts = posts()
    print(f"completions from {SHARED if SHARED.is_file() else 'the demo corpus'}: {len(texts):,} posts")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("base", "tuned"):
            (work / name).mkdir()
        for size in (int(s) for s in args.sizes.split(",")):
            measure(size, texts, work)


if __name__ == "__main__":
    main()
