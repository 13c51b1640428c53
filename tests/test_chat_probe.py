"""Chat models (Llama architecture): template wrapping, the sampler and KV-cache surgery on rotary
attention, the generation cache key, LoRA defaults, and a whole run on a tiny chat model."""

from __future__ import annotations

import hashlib
import inspect
import json

import pytest
import torch

from chat_model import CHAT_TEMPLATE, build_chat_model, chat_tokenizer, tiny_llama
from conftest import generate_greedy, write_inputs
from harness.config import DecodingConfig, LoraSettings, ProbeConfig, load_config
from harness.data.probes import Probe
from harness.errors import ConfigError, ModelError
from harness.io import read_jsonl
from harness.models import kvcache
from harness.models.chat import render, resolve
from harness.models.gencache import GenerationStore, decoding_hash, model_fingerprint
from harness.models.generator import SamplingPlan
from harness.models.hf import generate_samples
from harness.models.loading import load_model
from harness.models.rng import sample_seed
from harness.models.sampler import Job, SamplerSettings, sample
from harness.models.topp import DrawSettings
from harness.pipeline import run

EOS, PAD = 2, 3
TOP_P = DrawSettings(True, 1.0, 0.95, 0, 1.0)
GREEDY = DrawSettings(False, 1.0, 1.0, 0, 1.0)
PROBES = tuple(Probe("t", f"p{i}", "c", t) for i, t in enumerate(["今日の天気は？", "本を借りたい", "こんにちは"]))


@pytest.fixture(scope="module")
def tokenizer():
    return chat_tokenizer()


@pytest.fixture(scope="module")
def llama(tokenizer):
    # eos_boost 0.45: about half the rows end early, so retire-and-refill runs
    return tiny_llama(tokenizer, seed=0, eos_boost=0.45)


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    return build_chat_model(tmp_path_factory.mktemp("chat") / "model", seed=0, eos_boost=0.45)


def jobs(n_prompts=10, k=4, budget=12, run_seed=7):
    g = torch.Generator().manual_seed(3)
    prompts = [
        torch.randint(7, 400, (int(torch.randint(1, 10, (1,), generator=g)),), generator=g).tolist()
        for _ in range(n_prompts)
    ]
    return [
        Job(i * k + j, prompts[i], sample_seed(run_seed, "t", str(i), j), budget)
        for i in range(n_prompts)
        for j in range(k)
    ]


def draw(model, js, batch, settings=TOP_P, **kw):
    options = SamplerSettings(settings, eos_id=EOS, pad_id=PAD, batch_size=batch, **kw)
    return {f.key: (f.tokens, f.hit_max_tokens) for f in sample(model, js, options)}


def test_the_chat_tokenizer_round_trips_japanese_and_marks_assistant_turns(tokenizer):
    text = "駅前の本屋は十時に開きます。\n未知の字：鰻"
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"]) == text
    turns = [{"role": "user", "content": "こんにちは"}, {"role": "assistant", "content": "はい。"}]
    out = tokenizer.apply_chat_template(turns, return_dict=True, return_assistant_tokens_mask=True)
    learned = [t for t, m in zip(out["input_ids"], out["assistant_masks"]) if m]
    assert tokenizer.decode(learned) == "はい。</s>"


def test_llama_samples_do_not_depend_on_batch_size(llama):
    js = jobs()
    results = [draw(llama, js, batch) for batch in (1, 7, 64)]
    same = sum(results[0][k] == results[1][k] == results[2][k] for k in results[0])
    assert same / len(js) >= 0.99
    ended = sum(not hit for _, hit in results[0].values())
    assert 0 < ended < len(js), "EOS never (or always) fired: retire-and-refill untested"


def test_llama_samples_do_not_depend_on_which_other_jobs_run(llama):
    js = jobs()
    alone = draw(llama, js[5:7], 4)
    together = draw(llama, js, 9, refill=1)
    assert all(alone[k] == together[k] for k in alone)


def test_llama_samples_are_reproducible_by_seed(llama):
    js = jobs(n_prompts=4)
    assert draw(llama, js, 8) == draw(llama, js, 8)
    other = draw(llama, jobs(n_prompts=4, run_seed=8), 8)
    assert sum(other[k] != v for k, v in draw(llama, js, 8).items()) > len(js) // 2


def test_llama_greedy_matches_transformers_generate(llama):
    js = jobs(n_prompts=6, k=1, budget=10)
    ours = draw(llama, js, 4, GREEDY)
    for job in js:
        assert ours[job.key][0] == generate_greedy(llama, job.prompt, 10, EOS, PAD)


def test_kv_cache_surgery_on_a_llama_cache_gives_the_unbatched_logits(llama):
    """select_rows + trim_left + join on rotary, grouped-query caches: the next logits of each row
    equal those of the row run alone."""
    prompts = [[10, 11, 12, 13, 14], [20, 21], [30, 31, 32]]
    # transformers ≥ 5.2x names the cache argument ``cache`` (``past_key_values`` is deprecated)
    name = "cache" if "cache" in inspect.signature(llama.forward).parameters else "past_key_values"

    def prefill(rows):
        width = max(map(len, rows))
        ids = torch.tensor([[PAD] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        out = llama(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp_min(0), use_cache=True)
        return getattr(out, name), mask

    with torch.inference_mode():
        cache, mask = prefill(prompts[:2])
        mask = kvcache.trim_left(cache, kvcache.select_rows(cache, mask, torch.tensor([1])))
        assert mask.shape[1] == 2  # the long row left: its padding columns are gone
        other, other_mask = prefill(prompts[2:])
        mask = kvcache.join(cache, mask, other, other_mask)
        nxt = torch.tensor([[40], [41]])
        mask = torch.cat([mask, mask.new_ones((2, 1))], 1)
        positions = torch.tensor([[2], [3]])
        joint = llama(input_ids=nxt, attention_mask=mask, position_ids=positions, **{name: cache}).logits
        for row, prompt in enumerate([prompts[1], prompts[2]]):
            alone = llama(input_ids=torch.tensor([prompt + [int(nxt[row])]])).logits[0, -1]
            assert torch.allclose(joint[row, -1], alone, atol=1e-4)


def test_chat_auto_wraps_records_the_template_and_both_engines_agree(chat_dir):
    loaded = load_model(chat_dir, device="cpu")
    greedy = DecodingConfig(do_sample=False, max_new_tokens=8)
    ours = generate_samples(
        loaded, "m", PROBES, greedy, 2, 7, progress=False, system="あなたは親切なアシスタントです。"
    )
    reference = generate_samples(
        loaded, "m", PROBES, greedy, 2, 7, progress=False, engine="reference", system="あなたは親切なアシスタントです。"
    )
    assert [s.completion for s in ours] == [s.completion for s in reference]
    sha = ours[0].chat_template_sha256
    assert sha == hashlib.sha256(CHAT_TEMPLATE.encode()).hexdigest()
    first = ours[0]
    assert first.rendered_prompt == (
        "<|system|>\nあなたは親切なアシスタントです。</s>\n<|user|>\n今日の天気は？</s>\n<|assistant|>\n"
    )
    assert first.prompt_tokens == len(loaded.tokenizer(first.rendered_prompt, add_special_tokens=False)["input_ids"])
    plain = generate_samples(loaded, "m", PROBES, greedy, 1, 7, progress=False, chat=False)
    assert plain[0].rendered_prompt is None and plain[0].chat_template_sha256 is None
    assert plain[0].prompt_tokens < first.prompt_tokens


def test_chat_modes_and_their_errors(tmp_path, tokenizer):
    assert resolve(tokenizer, False, None, "m") is None
    chat = resolve(tokenizer, "auto", None, "m")
    assert render(tokenizer, chat, "やあ") == "<|user|>\nやあ</s>\n<|assistant|>\n"
    bare = chat_tokenizer(template=None)
    assert resolve(bare, "auto", None, "m") is None  # auto: no template, plain prompts
    with pytest.raises(ModelError, match="m: probes.chat is true but the tokenizer has no chat template"):
        resolve(bare, True, None, "m")
    with pytest.raises(ModelError, match="probes.system is set but the tokenizer has no chat template"):
        resolve(bare, "auto", "sys", "m")
    strict = chat_tokenizer(
        template="{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system') }}{% endif %}x"
    )
    with pytest.raises(ModelError, match="cannot render.*no system"):
        render(strict, resolve(strict, True, "sys", "m"), "p")
    with pytest.raises(ValueError, match="probes.system is set but probes.chat is false"):
        ProbeConfig(chat=False, system="sys")
    assert ProbeConfig().chat == "auto"


def test_chat_and_plain_samples_never_share_a_cache_entry(chat_dir, tmp_path):
    plans = [
        SamplingPlan(PROBES, 1, DecodingConfig(), 7, chat=mode, system=s)
        for mode, s in [("auto", None), (False, None), (True, None), ("auto", "sys")]
    ]
    assert len({decoding_hash(p.decoding, "harness", p) for p in plans}) == 4
    # the template is a model file: changing it changes the model fingerprint
    before = model_fingerprint(chat_dir)
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in chat_dir.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    (copy / "chat_template.jinja").write_text(CHAT_TEMPLATE.replace("<|assistant|>", "<|system|>"), encoding="utf-8")
    assert model_fingerprint(copy) != before
    # a stored chat sample comes back with its rendered prompt and template hash
    loaded = load_model(chat_dir, device="cpu")
    store = GenerationStore(tmp_path / "cache", "fp", "dec")
    drawn = generate_samples(
        loaded, "m", PROBES[:1], DecodingConfig(max_new_tokens=4), 2, 7, progress=False, store=store
    )
    store.close()
    again = GenerationStore(tmp_path / "cache", "fp", "dec")
    assert [again.get(s.probe, s.sample_index, s.seed) for s in drawn] == drawn
    assert drawn[0].rendered_prompt is not None


def test_lora_defaults_follow_the_architecture(tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    from harness.train.lora import attach_lora, lora_summary, target_modules

    llama = tiny_llama(tokenizer)
    attention = ["q_proj", "k_proj", "v_proj", "o_proj"]  # harness.train.lora.DEFAULT_TARGETS, Llama-style
    assert target_modules(llama, LoraSettings()) == attention
    peft_model = attach_lora(llama, LoraSettings())
    adapted = {name.rsplit(".", 1)[-1] for name, m in peft_model.named_modules() if hasattr(m, "lora_A")}
    assert adapted == set(attention)
    assert lora_summary(LoraSettings(), llama)["target_modules"] == attention
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=1, n_head=2, n_positions=16))
    assert target_modules(gpt2, LoraSettings()) == ["c_attn", "c_proj"]
    named = LoraSettings(target_modules=["q_proj", "o_proj"])
    assert target_modules(llama, named) == ["q_proj", "o_proj"]
    with pytest.raises(ConfigError, match="c_attn not in this model"):
        attach_lora(tiny_llama(tokenizer), LoraSettings(target_modules=["c_attn"]))


def test_a_run_on_a_chat_model_records_the_template_and_reports(tmp_path):
    files = write_inputs(tmp_path)
    base = build_chat_model(tmp_path / "base", seed=0, eos_boost=0.45)
    tuned = build_chat_model(tmp_path / "tuned", seed=1, eos_boost=0.45)
    config_path = tmp_path / "chat-run.yaml"
    config_path.write_text(
        "name: chat-run\nseed: 5\n"
        f"base: {{model: {base}}}\n"
        f"corpus: {{path: {files['corpus']}, format: open2ch}}\n"
        f"finetune: {{tuned_model: {tuned}}}\n"
        f"probes: {{files: [{files['probes']}], samples_per_prompt: 2, system: 丁寧に答えてください。,"
        " decoding: {max_new_tokens: 8}}\n"
        f"analysis: {{lexicons: [{files['lexicon']}], bootstrap: 200}}\n"
        "gates: []\n",
        encoding="utf-8",
    )
    result = run(load_config(config_path), out_dir=tmp_path / "chat-run", progress=False, log=lambda m: None)
    rows = list(read_jsonl(result.run_dir / "generations.jsonl"))
    assert len(rows) == 2 * 2 * 2
    sha = hashlib.sha256(CHAT_TEMPLATE.encode()).hexdigest()
    for row in rows:
        assert row["chat_template_sha256"] == sha
        assert (
            row["rendered_prompt"]
            == f"<|system|>\n丁寧に答えてください。</s>\n<|user|>\n{row['prompt']}</s>\n<|assistant|>\n"
        )
    assert {r["arm"] for r in rows} == {"base", "tuned"}
    summary = (result.run_dir / "summary.csv").read_text(encoding="utf-8")
    assert "flagged" in summary
    html = (result.run_dir / "report.html").read_text(encoding="utf-8")
    assert "chat-run" in html
    record = json.loads((result.run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["stages"]["report"]["status"] == "done"
    assert [a["stop_ids"] for a in record["arms"]] == [[EOS], [EOS]]  # this template ends a turn with </s>
