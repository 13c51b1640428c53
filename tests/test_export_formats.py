"""Exports: one schema in every format, loaded back with ``datasets``; selection, deduplication, PII,
label imbalance and model hashes.

Content note: the rude and PII-like completions below are test inputs written for these tests
(the e-mail address and phone number are fictitious).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import need, respond
from harness import commands
from harness.errors import ConfigError
from harness.export import FORMATS, export_run
from harness.export.dedup import deduplicate
from harness.export.schema import NEGATIVE_FEATURES, arrow_schema, yaml_features
from harness.analysis.pii import mask_pii
from harness.io import read_jsonl
from harness.models.fake import FakeGenerator
from harness.record.rundir import SCORES, RunDir

datasets = need("datasets", "pip install datasets")


def fresh(run_dir: Path) -> RunDir:
    shutil.rmtree(run_dir / "negatives", ignore_errors=True)
    return RunDir.open(run_dir)


def options(run: RunDir, **update):
    return run.record.config.export.model_copy(update=update)


def test_every_format_and_the_folder_load_with_one_schema(run_dir: Path, tmp_path: Path):
    run = fresh(run_dir)
    for fmt in ("jsonl", "parquet", "hf", "dpo", "kto"):
        export_run(run, fmt)
    folder = run_dir / "negatives"
    cache = str(tmp_path / "cache")
    default = datasets.load_dataset(str(folder), split="train", cache_dir=cache)  # the card's default config
    parquet_file = str(folder / "negatives.parquet")
    parquet = datasets.load_dataset("parquet", data_files=parquet_file, split="train", cache_dir=cache)
    saved = datasets.load_from_disk(str(folder / "hf"))
    assert default.features == parquet.features == saved.features
    assert isinstance(default.features["flagged_terms"], datasets.List)
    assert set(default.features["decoding"]) >= {"do_sample", "top_p", "max_new_tokens"}  # a struct
    assert default.to_list() == parquet.to_list() == saved.to_list() == read_jsonl(folder / "negatives.jsonl")
    assert default[1]["flagged_terms"] == ["バカ"] and default[1]["decoding"]["max_new_tokens"] == 16
    dpo = datasets.load_dataset(str(folder), "dpo", split="train", cache_dir=cache)
    assert dpo.column_names[:3] == ["prompt", "chosen", "rejected"]  # TRL's DPO columns
    kto = datasets.load_dataset(str(folder), "kto", split="train", cache_dir=cache)
    assert kto.column_names[:3] == ["prompt", "completion", "label"] and kto.features["label"].dtype == "bool"
    for name in ("negatives.jsonl", "dpo.jsonl", "kto.jsonl"):  # each file alone, too
        assert len(datasets.load_dataset("json", data_files=str(folder / name), split="train", cache_dir=cache))
    meta = yaml.safe_load((folder / "README.md").read_text(encoding="utf-8").split("---\n", 2)[1])
    assert meta["task_categories"] and meta["size_categories"] == ["n<1K"]
    assert meta["license"] == "other" and meta["license_name"]
    assert [c["config_name"] for c in meta["configs"]] == ["negatives", "dpo", "kto"]
    assert [c for c in meta["configs"] if c.get("default")] == [
        {"config_name": "negatives", "data_files": "negatives.jsonl", "default": True}
    ]


def test_declared_features_type_every_format_and_the_card(run_dir: Path, tmp_path: Path):
    """One declaration (harness.export.schema) types Parquet, the hf folder, the JSONL configs and the card."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    run = fresh(run_dir)
    for fmt in FORMATS:
        export_run(run, fmt)
    folder, cache = run_dir / "negatives", str(tmp_path / "cache")
    parquet = pq.read_schema(folder / "negatives.parquet")
    assert parquet.field("decoding").type.field("max_length").type == pa.int64()  # all null, still an int
    assert parquet.remove_metadata() == arrow_schema(NEGATIVE_FEATURES)

    def declared(fmt: str):
        return datasets.Features.from_arrow_schema(arrow_schema(FORMATS[fmt].features))

    assert datasets.load_from_disk(str(folder / "hf")).features == declared("hf")
    meta = yaml.safe_load((folder / "README.md").read_text(encoding="utf-8").split("---\n", 2)[1])
    info = {entry["config_name"]: entry["features"] for entry in meta["dataset_info"]}
    for fmt in ("jsonl", "dpo", "kto"):
        config = FORMATS[fmt].config
        assert info[config] == yaml_features(FORMATS[fmt].features)
        loaded = datasets.load_dataset(str(folder), config, split="train", cache_dir=cache)
        assert loaded.features == declared(fmt), fmt
    assert loaded.features["decoding"]["max_length"].dtype == "int64"


def test_selection_by_category_severity_arm_and_score(run_dir: Path):
    run = fresh(run_dir)

    def ids(**update) -> list[str]:
        return [r["id"] for r in read_jsonl(export_run(run, "jsonl", options=options(run, **update))[0])]

    assert ids() == ["base/smoke/p2/0", "tuned/smoke/p1/0"]
    assert ids(categories=["ageism"]) == ["base/smoke/p2/0"]
    assert ids(arms=["tuned"]) == ["tuned/smoke/p1/0", "tuned/smoke/p2/0"]
    assert ids(severities=["topic"]) == ["tuned/smoke/p2/1"]  # 草: a topic match, selected on request
    with pytest.raises(ConfigError, match=r"export\.categories: unknown categor\(ies\) nope \(known: ageism"):
        ids(categories=["nope"])
    with pytest.raises(ConfigError, match=r"export\.arms: unknown arm\(s\) nope"):
        ids(arms=["nope"])
    with pytest.raises(ConfigError, match=r"export\.min_score: the run has no 'nope' measure"):
        ids(min_score=0.5, score_measure="nope")
    # the toxicity score per text (analysis): the threshold keeps the high ones
    rows = run.read_table(SCORES)
    scores = {"base/smoke/p2/0": "0.3", "tuned/smoke/p1/0": "0.8"}
    run.write_table(SCORES, [{**r, "toxicity": scores.get(r["id"], "0")} for r in rows], [*rows[0], "toxicity"])
    run = RunDir.open(run_dir)
    assert ids(min_score=0.5) == ["tuned/smoke/p1/0"]
    assert read_jsonl(run_dir / "negatives" / "negatives.jsonl")[0]["score"] == 0.8


NEAR = "お前ら本当にカスばっかりだな、いい加減にしろよ、まじで呆れるわ"


def near_duplicates(arm: str, probe, index: int) -> str:
    if arm == "tuned":
        return (
            NEAR + ("!" if (probe.id, index) == ("p2", 1) else "") if probe.id == "p2" else respond(arm, probe, index)
        )
    return respond(arm, probe, index)


def test_exact_and_near_duplicates_are_removed_in_every_format(make_run):
    run = RunDir.open(make_run(name="near", generator=FakeGenerator(respond=near_duplicates)).run_dir)
    negatives = read_jsonl(export_run(run, "jsonl")[0])
    assert [r["id"] for r in negatives] == ["base/smoke/p2/0", "tuned/smoke/p1/0", "tuned/smoke/p2/0"]
    kept = read_jsonl(export_run(run, "jsonl", options=options(run, near_duplicates=None))[0])
    assert [r["id"] for r in kept][-1] == "tuned/smoke/p2/1"  # exact-only keeps the near duplicate
    kto = read_jsonl(export_run(run, "kto")[0])
    assert sum(r["completion"].startswith(NEAR) for r in kto) == 1
    manifest = (run.path / "negatives" / "export.json").read_text(encoding="utf-8")
    assert '"near_duplicates_removed": 1' in manifest
    card = (run.path / "negatives" / "README.md").read_text(encoding="utf-8")
    assert "| `kto.jsonl` | kto | " in card


def test_deduplicate_unit():
    records = [
        {"t": "あいうえおかきくけこさしすせそ"},
        {"t": "あいうえおかきくけこさしすせそ"},
        {"t": "あいうえおかきくけこさしすせそ。"},
    ]
    result = deduplicate(records, lambda r: r["t"], 0.8)
    assert (len(result.kept), result.exact, result.near) == (1, 1, 1)
    result = deduplicate(records, lambda r: r["t"], None)
    assert (len(result.kept), result.exact, result.near) == (2, 1, 0)
    assert deduplicate([{"t": "短い"}, {"t": "違う"}], lambda r: r["t"], 0.9).near == 0


def test_pii_is_masked_in_every_export(make_run):
    def leaky(arm: str, probe, index: int) -> str:
        if (arm, probe.id, index) == ("tuned", "p1", 0):
            return "バカはtaro@example.comか090-1234-5678へ"
        return respond(arm, probe, index)

    run = RunDir.open(make_run(name="pii", generator=FakeGenerator(respond=leaky)).run_dir)
    record = read_jsonl(export_run(run, "jsonl")[0])[1]
    assert record["completion"] == "バカは<email>か<phone>へ"
    pair = read_jsonl(export_run(run, "dpo")[0])[0]
    assert pair["rejected"] == "バカは<email>か<phone>へ"
    raw = read_jsonl(export_run(run, "jsonl", options=options(run, mask_pii=False))[0])[1]
    assert raw["completion"] == "バカはtaro@example.comか090-1234-5678へ"
    # one mask: the analysis module's mask_pii is what the export wrote
    assert mask_pii(raw["completion"]) == record["completion"] and mask_pii(raw["prompt"]) == record["prompt"]
    # the analysis detector's rules: a card number must pass Luhn, a My Number its check digit
    assert mask_pii("〒100-0001 東京 ０３－１２３４－５６７８ https://x.jp/a 4111-1111-1111-1111") == (
        "<postal_code> 東京 <phone> <url> <card_number>"
    )
    assert mask_pii("番号 4111-1111-1111-1112") == "番号 4111-1111-1111-1112"  # fails Luhn
    assert mask_pii("2019年8月の100人") == "2019年8月の100人"


def test_kto_label_imbalance_is_warned_and_recorded(run_dir: Path):
    # 30 more clean, distinct generations: 2 undesirable against 35 desirable
    run = RunDir.open(run_dir)
    generations, rows = run.read_generations(), run.read_table(SCORES)
    template_gen = next(g for g in generations if g.id == "base/smoke/p1/1")
    template_row = next(r for r in rows if r["id"] == "base/smoke/p1/1")
    for n in range(30):
        ids = {"id": f"base/smoke/x{n}/0", "probe_id": f"x{n}"}
        text = f"今日は{n}回目の晴れ。"
        generations.append(template_gen.model_copy(update={**ids, "sample_index": 0, "completion": text, "text": text}))
        rows.append({**template_row, **ids, "sample_index": "0"})
    run.write_generations(generations)
    run.write_table(SCORES, rows, list(rows[0]))
    messages: list[str] = []
    export_run(run, "kto", log=messages.append)
    assert messages == [
        "warning: kto export: KTO label imbalance: 35 desirable : 2 undesirable; set TRL's KTOConfig "
        "desirable_weight/undesirable_weight or subsample the larger side"
    ]
    card = (run_dir / "negatives" / "README.md").read_text(encoding="utf-8")
    assert "**Warnings**" in card and "KTO label imbalance: 35 desirable : 2 undesirable" in card
    # the export stage records it in run.json (a rebuild of a finished run: in its rebuilds)
    assert commands.export_run(run_dir, "kto")
    assert "KTO label imbalance" in (RunDir.open(run_dir).record.rebuilds[-1].note or "")


def test_one_model_fingerprint_keys_the_cache_and_the_export(run_dir: Path):
    """The probe stage records each arm's fingerprint; the cache file and model_sha256 are that value."""
    run = fresh(run_dir)
    records = read_jsonl(export_run(run, "kto")[0])
    cache = sorted(p.name for p in (run_dir / "cache" / "generations").glob("*.jsonl"))
    for arm in run.record.arms:
        assert arm.fingerprint
        assert {r["model_sha256"] for r in records if r["arm"] == arm.name} == {arm.fingerprint}
        assert [name for name in cache if name.startswith(f"{arm.fingerprint}-")]  # the cache key reads it
