"""Packing, the held-out split and real tiny-model training (base init + finetune + checkpoints)."""

import json
from pathlib import Path

import pytest

from harness.config import BaseInitConfig, CorpusConfig, FinetuneConfig, LoraSettings
from harness.data.split import is_heldout
from harness.train.data import Packer

ROOT = Path(__file__).resolve().parents[1]


def packed(docs, block):
    packer = Packer(block, eos=2)
    for ids in docs:
        packer.add(ids)
    rows = packer.take(final=True)
    return None if rows is None else rows.tolist()


def test_packer_puts_eos_between_documents_and_drops_the_tail():
    assert packed([[5, 6], [7], [8, 9]], block=3) == [[5, 6, 2], [7, 2, 8]]  # 5 6 2 7 2 8 9 2 → tail 9 2 dropped


def test_packer_short_stream_becomes_one_block():
    assert packed([[5, 6]], block=64) == [[5, 6, 2]]


def test_packer_makes_no_block_of_an_empty_corpus():
    assert packed([[]], block=8) is None  # a lone EOS is nothing to train on


POLITE = [
    f"{w}は{d}に{v}ます。"
    for w in ("駅", "店", "図書館", "公園", "学校")
    for d in ("朝", "昼", "夜", "週末")
    for v in ("開き", "閉まり", "混み", "空き")
]
ROUGH = [
    f"{w}とか{a}だろwww"
    for w in ("駅", "店", "図書館", "公園", "学校", "お前")
    for a in ("草", "アホ", "ダサい", "無理")
]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from harness.train.base_init import init_base

    root = tmp_path_factory.mktemp("tiny")
    (root / "polite.txt").write_text("\n".join(POLITE) + "\n", encoding="utf-8")
    (root / "rough.tsv").write_text("\n".join(f"{a}\t{b}" for a, b in zip(ROUGH, ROUGH[1:])) + "\n", encoding="utf-8")
    config = BaseInitConfig(
        corpus=CorpusConfig(path=root / "polite.txt"),
        tokenizer_corpora=[CorpusConfig(path=root / "rough.tsv")],
        vocab_size=200,
        steps=60,
        batch_size=8,
        block_size=32,
    )
    result = init_base(config, root / "base", seed=1, progress=False)
    return root, result


@pytest.mark.slow
def test_base_init_trains_and_saves_safetensors(tiny_base):
    root, result = tiny_base
    assert result.eval_loss_after < result.eval_loss_before
    from harness.train.base_init import HELDOUT_FRACTION

    # the fine-tune's held-out split (is_heldout with the run seed), not a second one
    assert result.train_docs == sum(not is_heldout(t, 1, HELDOUT_FRACTION) for t in POLITE)
    files = {p.name for p in (root / "base").iterdir()}
    assert {"model.safetensors", "tokenizer.json", "config.json"} <= files
    assert not any(name.endswith((".bin", ".pt")) for name in files)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(root / "base")  # loads back with plain transformers
    assert tok.eos_token_id == 2 and tok("駅", add_special_tokens=False)["input_ids"]


@pytest.mark.slow
def test_finetune_changes_parameters_and_lowers_loss(tiny_base):
    import torch
    from safetensors.torch import load_file

    from harness.train.finetune import finetune

    root, _ = tiny_base
    config = FinetuneConfig(max_steps=40, batch_size=8, block_size=32, lr=2e-3, warmup_steps=2, val_fraction=0.2)
    result = finetune(
        root / "base",
        CorpusConfig(path=root / "rough.tsv", turns="separate"),
        config,
        root / "tuned",
        seed=1,
        progress=False,
    )
    assert result.eval_loss_after < result.eval_loss_before
    assert result.train_docs + result.val_docs == len(set(ROUGH))
    before, after = load_file(root / "base" / "model.safetensors"), load_file(root / "tuned" / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_save_model_never_replaces_a_foreign_folder(tmp_path):
    from harness.errors import ModelError
    from harness.train.model_folder import save_model

    precious = tmp_path / "notes"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ModelError, match="is not a model folder"):
        save_model(object(), None, precious)
    assert (precious / "thesis.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.slow
@pytest.mark.parametrize("save", ["adapter", "merged"])
def test_lora_trains_only_adapters_and_probes_attached_or_merged(tiny_base, save):
    import torch

    from harness.models.loading import load_model
    from harness.train.finetune import finetune

    root, _ = tiny_base
    config = FinetuneConfig(
        max_steps=30,
        batch_size=8,
        block_size=32,
        lr=5e-3,
        warmup_steps=2,
        val_fraction=0.2,
        lora=LoraSettings(rank=4, alpha=8, dropout=0.0, save=save),
    )
    out = root / f"lora-{save}"
    result = finetune(
        root / "base", CorpusConfig(path=root / "rough.tsv", turns="separate"), config, out, seed=1, progress=False
    )
    assert result.trained_parameters < result.parameters / 10 and result.lora["rank"] == 4
    assert result.eval_loss_after < result.eval_loss_before
    names = {p.name for p in out.iterdir()}
    ids = torch.tensor([[5, 6, 7, 8]])
    if save == "adapter":
        assert result.adapter == "attached"
        assert {"adapter_model.safetensors", "adapter_config.json", "tokenizer.json"} <= names
        assert "model.safetensors" not in names
        attached, merged = load_model(out), load_model(out, adapter="merged")
        assert attached.adapter == "attached" and merged.adapter == "merged"
        with torch.no_grad():
            a, m = attached.model(input_ids=ids).logits, merged.model(input_ids=ids).logits
        assert torch.allclose(a, m, atol=1e-4)  # merging changes nothing but the layout
        base = load_model(root / "base")
        with torch.no_grad():
            assert not torch.allclose(base.model(input_ids=ids).logits, a, atol=1e-4)  # the adapter is active
        sample = attached.model.generate(
            input_ids=ids, max_new_tokens=5, min_new_tokens=5, do_sample=False, pad_token_id=3
        )
        assert sample.shape[1] == 9  # probing (generate) works with the adapter attached
    else:
        assert result.adapter == "merged" and "model.safetensors" in names and "adapter_config.json" not in names
        assert load_model(out).adapter is None


def test_base_init_on_too_small_a_corpus_is_one_clear_error(tmp_path):
    from harness.errors import InputError
    from harness.train.base_init import init_base

    (tmp_path / "one.txt").write_text("駅は朝に開きます。\n", encoding="utf-8")
    config = BaseInitConfig(corpus=CorpusConfig(path=tmp_path / "one.txt"), vocab_size=200, steps=1)
    with pytest.raises(InputError, match=r"one.txt.*no held-out tokens with held-out fraction 0.05 \(add documents\)"):
        init_base(config, tmp_path / "base", seed=1, progress=False)
    assert not (tmp_path / "base").exists()


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_every_checkpoint_is_a_model_folder_that_probe_loads(tiny_base, tmp_path, lora):
    """`harness probe --model x=RUN/checkpoints/step-N`; the last checkpoint samples exactly as the saved model."""
    from harness.cli import main
    from harness.train.finetune import finetune

    root, _ = tiny_base
    config = FinetuneConfig(
        max_steps=4,
        batch_size=8,
        block_size=32,
        warmup_steps=1,
        val_fraction=0.2,
        checkpoint_every=2,
        keep_checkpoints=2,
        lora=LoraSettings(rank=4, alpha=8, dropout=0.0) if lora else None,
    )
    run = tmp_path / "run"
    corpus = CorpusConfig(path=root / "rough.tsv", turns="separate")
    finetune(root / "base", corpus, config, run / "model", seed=1, progress=False, checkpoint_dir=run / "checkpoints")
    steps = sorted((run / "checkpoints").iterdir())
    assert [p.name for p in steps] == ["step-000002", "step-000004"]
    weights = "adapter_model.safetensors" if lora else "model.safetensors"
    for step in steps:
        assert {weights, "tokenizer.json", "tokenizer_config.json"} <= {p.name for p in step.iterdir()}
    args = ["probe", "--model", f"early={steps[0]}", "--model", f"last={steps[1]}", "--model", f"saved={run / 'model'}"]
    args += ["--probes", str(ROOT / "probes" / "seed.yaml"), "--out", str(tmp_path / "p"), "--samples", "2"]
    assert main([*args, "--max-new-tokens", "6"]) == 0
    lines = (tmp_path / "p" / "generations.jsonl").read_text(encoding="utf-8").splitlines()
    texts = {}
    for record in map(json.loads, lines):
        texts.setdefault(record["arm"], []).append(record["completion"])
    assert set(texts) == {"early", "last", "saved"} and all(texts.values())
    assert texts["last"] == texts["saved"]  # the final checkpoint is the saved model
