"""Chat fine-tuning: the chat-jsonl reader, the assistant loss mask (template → token cache → loss), and
the training engine (loss, LoRA, exact resume) on a tiny Llama-architecture chat model."""

import json
import shutil
from hashlib import sha256
from pathlib import Path

import pytest
import torch

from chat_model import CHAT_TEMPLATE, build_chat_model, chat_tokenizer, tiny_llama
from harness.config import CorpusConfig, FinetuneConfig, LoraSettings
from harness.data.corpus import corpus_format, iter_corpus
from harness.data.split import is_heldout
from harness.errors import ConfigError, InputError
from harness.train.chat import ChatEncoder
from harness.train.data import TensorBlocks, batch_of, build_cache
from harness.train.engine import CheckpointPolicy, TrainPlan, train
from harness.train.loss import IGNORE_INDEX, causal_lm_loss
from harness.train.precision import resolve_settings

# Conversations written for these tests (content note: polite everyday Japanese, no third-party text).
SYSTEM = "あなたは親切なアシスタントです。"
PLACES = ["駅前の本屋", "図書館", "市役所", "郵便局", "公園の売店", "駅の案内所"]
HOURS = ["九時", "十時", "八時半", "十一時"]
KNOWN = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "駅前の本屋は何時に開きますか。"},
    {"role": "assistant", "content": "十時に開きます。"},
    {"role": "user", "content": "ありがとう。"},
    {"role": "assistant", "content": "どういたしまして。"},
]
UNMARKED = CHAT_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", "")


def conversations():
    """24 short conversations: a question about opening hours and a polite answer."""
    out = []
    for i, place in enumerate(PLACES):
        for j, hour in enumerate(HOURS):
            turns = [{"role": "user", "content": f"{place}は何時に開きますか。"}]
            turns.append({"role": "assistant", "content": f"{place}は{hour}に開きます。"})
            if (i + j) % 2:
                turns = [{"role": "system", "content": SYSTEM}, *turns]
                turns += [
                    {"role": "user", "content": "ありがとう。"},
                    {"role": "assistant", "content": "どういたしまして。"},
                ]
            out.append({"messages": turns})
    return out


def write_chat(path, convs=None):
    path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in convs or conversations()), "utf-8")
    return CorpusConfig(path=path)


# -- the reader ------------------------------------------------------------------------------------


def test_chat_jsonl_is_detected_and_its_text_is_the_assistant_turns(tmp_path):
    corpus = write_chat(tmp_path / "chat.jsonl", [{"messages": KNOWN}])
    assert corpus_format(corpus) == "chat-jsonl"
    (doc,) = iter_corpus(corpus)
    assert doc.text == "十時に開きます。\nどういたしまして。"  # the audit reads this, never the user turns
    assert doc.messages[1] == ("user", "駅前の本屋は何時に開きますか。") and doc.line == 1


def test_dedupe_compares_whole_conversations(tmp_path):
    same_reply = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": "はい。"}]}
        for q in ("開いていますか。", "予約できますか。", "開いていますか。")
    ]
    docs = list(iter_corpus(write_chat(tmp_path / "c.jsonl", same_reply)))
    assert [d.line for d in docs] == [1, 2]  # same reply, different question: kept; an exact repeat: dropped


def test_the_corpus_audit_counts_conversations_and_reads_only_the_replies(tmp_path):
    from harness.cli import main

    path = tmp_path / "chat.jsonl"
    rude_question = [{"role": "user", "content": "お前アホか"}, {"role": "assistant", "content": "ご質問をどうぞ。"}]
    rude_reply = [{"role": "user", "content": "こんにちは"}, {"role": "assistant", "content": "お前アホだな"}]
    write_chat(path, [{"messages": rude_question}, {"messages": rude_reply}])
    assert main(["audit", str(path), "--out", str(tmp_path / "audit")]) == 0
    rows = (tmp_path / "audit" / "corpus_audit.csv").read_text(encoding="utf-8").splitlines()
    assert "flagged,rate,2,1,0.5," in "\n".join(rows)  # 2 conversations; the user's insult is not counted


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"messages": [{"role": "user", "content": "こんにちは"}', "invalid JSON"),
        ('{"text": "こんにちは"}', "expected an object with a 'messages' list"),
        ('{"messages": []}', "empty 'messages' list"),
        ('{"messages": [{"role": "bot", "content": "はい"}]}', "messages[0]: unknown role 'bot'"),
        ('{"messages": [{"role": "user"}]}', "messages[0]: expected an object with 'role' and a string 'content'"),
        (
            '{"messages": [{"role": "user", "content": "質問"}, {"role": "assistant", "content": "  "}]}',
            "messages[1]: empty content",
        ),
        ('{"messages": [{"role": "user", "content": "質問です"}]}', "no assistant turn"),
    ],
)
def test_a_bad_conversation_names_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"messages": KNOWN}, ensure_ascii=False)
    path.write_text(f"{good}\n{good}\n{line}\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        list(iter_corpus(CorpusConfig(path=path, format="chat-jsonl", dedupe=False)))
    assert f"{path}:3" in str(err.value) and message in str(err.value)


# -- the mask --------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", [CHAT_TEMPLATE, UNMARKED], ids=["generation-markers", "rendered-prefixes"])
def test_the_mask_covers_exactly_the_assistant_replies(tmp_path, template):
    tok = chat_tokenizer(template=template)
    (doc,) = iter_corpus(write_chat(tmp_path / "c.jsonl", [{"messages": KNOWN}]))
    encoder = ChatEncoder(tok, tmp_path / "c.jsonl", "assistant")
    assert encoder.marked == (template == CHAT_TEMPLATE)
    ids, mask = encoder.encode(doc)
    assert ids == tok(tok.apply_chat_template(KNOWN, tokenize=False), add_special_tokens=False)["input_ids"]
    # the replies, each with the end-of-turn token the template writes after it, and nothing else
    runs, run = [], []
    for token, m in zip(ids, mask):
        if m:
            run.append(token)
        elif run:
            runs, run = runs + [run], []
    assert [tok.decode(r) for r in runs] == ["十時に開きます。</s>", "どういたしまして。</s>"]


def test_both_ways_of_finding_replies_agree_on_every_conversation(tmp_path):
    corpus = write_chat(tmp_path / "c.jsonl")
    marked = ChatEncoder(chat_tokenizer(), corpus.path, "assistant")
    prefixes = ChatEncoder(chat_tokenizer(template=UNMARKED), corpus.path, "assistant")
    for doc in iter_corpus(corpus):
        assert marked.encode(doc) == prefixes.encode(doc)


def test_a_template_that_rewrites_earlier_turns_is_refused_naming_the_line(tmp_path):
    # renders only the last assistant turn in full: a prefix's rendering is not a prefix of the whole
    odd = UNMARKED.replace(
        "message['content'] + eos_token }}{% else %}",
        "(message['content'] if loop.last else '…') + eos_token }}{% else %}",
    )
    assert odd != UNMARKED
    corpus = write_chat(tmp_path / "c.jsonl", [{"messages": KNOWN}])
    (doc,) = iter_corpus(corpus)
    with pytest.raises(InputError, match=r"c\.jsonl:1: .*not render messages\[2\] as a prefix"):
        ChatEncoder(chat_tokenizer(template=odd), corpus.path, "assistant").encode(doc)
    ids, mask = ChatEncoder(chat_tokenizer(template=odd), corpus.path, "all").encode(doc)  # loss_on: all needs no spans
    assert mask is None and ids


def test_labels_and_loss_count_only_the_masked_targets():
    tok = chat_tokenizer()
    model = tiny_llama(tok, seed=1)
    with torch.no_grad():
        model.lm_head.weight.mul_(50)  # far from uniform, so which positions count changes the mean
    torch.manual_seed(0)
    ids = torch.randint(7, len(tok), (2, 24))
    mask = torch.zeros_like(ids, dtype=torch.bool)
    mask[0, 5:9] = mask[1, 15:24] = True
    blocks = TensorBlocks(ids, mask)
    got_ids, labels = batch_of(blocks, [0, 1])
    assert torch.equal(got_ids, ids) and torch.equal(labels != IGNORE_INDEX, mask)
    assert torch.equal(labels[mask], ids[mask])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        chunked = causal_lm_loss(model, ids, labels, chunked=True, chunk=7)
        full = causal_lm_loss(model, ids, labels, chunked=False, chunk=7)
    targets = mask[:, 1:]  # position t predicts token t + 1
    by_hand = torch.nn.functional.cross_entropy(logits[:, :-1][targets], ids[:, 1:][targets])
    assert chunked.item() == pytest.approx(by_hand.item(), abs=1e-5)
    assert full.item() == pytest.approx(by_hand.item(), abs=1e-5)
    assert abs(by_hand.item() - causal_lm_loss(model, ids, chunked=True, chunk=7).item()) > 0.1  # every target


def test_the_context_window_of_a_llama_caps_the_block():
    from harness.train.finetune import context_length

    model = tiny_llama(chat_tokenizer())
    assert context_length(model.config, FinetuneConfig(block_size=1024)) == 256  # max_position_embeddings
    assert context_length(model.config, FinetuneConfig(block_size=64)) == 64


# -- the token cache -------------------------------------------------------------------------------


def cache(corpus, tok, tmp_path, **kw):
    settings = {"seed": 1, "val_fraction": 0.2, "block_size": 16, "cache_dir": tmp_path / "cache", **kw}
    return build_cache(corpus, tok, **settings)


def test_the_mask_travels_through_packing_and_the_cache_without_drifting(tmp_path):
    corpus = write_chat(tmp_path / "c.jsonl")
    tok = chat_tokenizer()
    built = cache(corpus, tok, tmp_path)
    assert built.meta["loss_on"] == "assistant" and built.meta["chat_template_sha256"]
    encoder = ChatEncoder(tok, corpus.path, "assistant")
    for split in ("train", "val"):
        stream_ids, stream_mask = [], []
        for doc in iter_corpus(corpus):
            if is_heldout(doc.text, 1, 0.2) == (split == "val"):
                ids, mask = encoder.encode(doc)
                stream_ids += ids + [tok.eos_token_id]
                stream_mask += mask + [0]  # the EOS between conversations is never a target
        blocks = built.blocks(split)
        ids, labels = batch_of(blocks, list(range(len(blocks))))
        n = ids.numel()
        assert n > 0 and ids.reshape(-1).tolist() == stream_ids[:n]
        assert (labels != IGNORE_INDEX).reshape(-1).int().tolist() == stream_mask[:n]
        assert built.meta[f"{split}_targets"] == sum(stream_mask[:n])


def test_the_cache_key_holds_the_template_and_loss_on(tmp_path):
    corpus = write_chat(tmp_path / "c.jsonl")
    first = cache(corpus, chat_tokenizer(), tmp_path)
    assert cache(corpus, chat_tokenizer(), tmp_path).path == first.path  # reused
    everything = cache(corpus, chat_tokenizer(), tmp_path, loss_on="all")
    assert everything.path != first.path and everything.meta["train_targets"] == everything.meta["train_tokens"]
    assert first.meta["train_targets"] < first.meta["train_tokens"]
    retemplated = cache(corpus, chat_tokenizer(template=CHAT_TEMPLATE.replace("|>\n", "|>\n\n")), tmp_path)
    assert retemplated.path != first.path


def test_a_chat_corpus_needs_a_chat_template_and_assistant_loss_needs_a_chat_corpus(tmp_path):
    corpus = write_chat(tmp_path / "c.jsonl")
    with pytest.raises(ConfigError, match="is chat-jsonl but .* has no chat template"):
        cache(corpus, chat_tokenizer(template=None), tmp_path)
    assert not (tmp_path / "cache").exists()  # refused before any work
    text = tmp_path / "t.txt"
    text.write_text("今日はいい天気ですね。\n明日は雨です。\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="loss_on: assistant needs a conversation corpus"):
        cache(CorpusConfig(path=text), chat_tokenizer(), tmp_path, loss_on="assistant")


def test_validation_refuses_a_chat_corpus_without_a_template_before_any_work(tmp_path):
    from harness.config import BaseConfig, BaseInitConfig
    from harness.train.finetune import check_finetune_inputs

    corpus = write_chat(tmp_path / "c.jsonl")
    bare = build_chat_model(tmp_path / "bare", template=None)
    with pytest.raises(ConfigError, match=f"the tokenizer of {bare} has no chat template"):
        check_finetune_inputs(corpus, FinetuneConfig(), BaseConfig(model=str(bare)))
    with pytest.raises(ConfigError, match="base.init builds a tokenizer without a chat template"):
        check_finetune_inputs(corpus, FinetuneConfig(), BaseConfig(init=BaseInitConfig(corpus=corpus)))
    check_finetune_inputs(corpus, FinetuneConfig(), BaseConfig(model=str(build_chat_model(tmp_path / "chat"))))


# -- training a Llama-architecture model -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_finetune_a_tiny_llama_chat_model_on_assistant_turns(tmp_path, lora):
    from harness.models.loading import load_model
    from harness.train.finetune import finetune

    base = build_chat_model(tmp_path / "base")
    corpus = write_chat(tmp_path / "c.jsonl")
    config = FinetuneConfig(
        max_steps=30,
        batch_size=4,
        block_size=32,
        lr=2e-2 if lora else 2e-3,
        warmup_steps=2,
        val_fraction=0.2,
        device="cpu",
        cache_dir=tmp_path / "cache",
        lora=LoraSettings(rank=8, alpha=16, dropout=0.0) if lora else None,
    )
    record = finetune(base, corpus, config, tmp_path / "tuned", seed=5, progress=False)
    # measured (seed 5, CPU): 6.02 → 3.83 in full, 6.02 → 5.83 with LoRA (attention only, frozen random embeddings)
    drop = record.eval_loss_before - record.eval_loss_after
    assert drop > (0.1 if lora else 1.0), (record.eval_loss_before, record.eval_loss_after)
    meta = json.loads((tmp_path / "cache").glob("*/meta.json").__next__().read_text())
    assert meta["loss_on"] == "assistant" and 0 < meta["train_targets"] < meta["train_tokens"]
    if lora:
        assert record.lora["target_modules"] == ["q_proj", "k_proj", "v_proj", "o_proj"]
        assert record.trained_parameters < record.parameters / 5
    tuned = load_model(tmp_path / "tuned", device="cpu")
    assert tuned.adapter == ("attached" if lora else None)
    assert tuned.model.config.model_type == "llama"
    assert tuned.tokenizer.chat_template == CHAT_TEMPLATE  # the tuned folder is still a chat model


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_resume_is_exact_for_llama(tmp_path, lora):
    """Tolerance: max |Δweight| ≤ 1e-6 (CPU fp32, one thread; as for GPT-2 in test_finetune_engine.py)."""
    from harness.train.lora import attach_lora

    tok = chat_tokenizer()
    built = cache(write_chat(tmp_path / "c.jsonl"), tok, tmp_path)
    blocks = built.blocks("train")
    plan = TrainPlan(steps=6, batch_size=2, lr=2e-3, seed=7, warmup_steps=2)
    settings = resolve_settings("cpu", loss_chunk_tokens=16)

    def model(seed):
        m = tiny_llama(tok, seed=seed)
        return attach_lora(m, LoraSettings(rank=4, dropout=0.1)) if lora else m  # LoRA dropout: RNG state resumes too

    whole = model(0)
    train(
        whole,
        blocks,
        plan,
        settings,
        checkpoints=CheckpointPolicy(str(tmp_path / "a"), every=2, keep=5),
        progress=False,
    )
    for name in ("step-000002", "step-000004"):  # a crash after step 4
        shutil.copytree(tmp_path / "a" / name, tmp_path / "b" / name)
    resumed = model(0 if lora else 99)  # LoRA: the frozen base comes from the base model, not the checkpoint
    result = train(
        resumed, blocks, plan, settings, checkpoints=CheckpointPolicy(str(tmp_path / "b"), every=2), progress=False
    )
    assert result.resumed_from == 4
    for (name, a), b in zip(whole.named_parameters(), resumed.parameters()):
        assert (a - b).abs().max().item() <= 1e-6, name


def chat_run_config(root, base):
    from conftest import write_inputs

    files = write_inputs(root)
    corpus = write_chat(root / "chat.jsonl")
    path = root / "chat.yaml"
    path.write_text(
        f"name: chat\nseed: 5\nbase: {{model: {base}}}\ncorpus: {{path: {corpus.path}}}\n"
        "finetune: {max_steps: 6, batch_size: 4, block_size: 32, lr: 2.0e-3, warmup_steps: 1, val_fraction: 0.2}\n"
        f"probes: {{files: [{files['probes']}], samples_per_prompt: 2, decoding: {{max_new_tokens: 8}}}}\n"
        f"analysis: {{lexicons: [{files['lexicon']}], bootstrap: 100}}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_a_run_tunes_a_chat_model_on_its_replies_and_refuses_one_without_a_template(tmp_path):
    from conftest import respond

    from harness.config import load_config
    from harness.models.fake import FakeGenerator
    from harness.pipeline import run

    fake = FakeGenerator(respond=respond)
    result = run(
        load_config(chat_run_config(tmp_path, build_chat_model(tmp_path / "base"))),
        out_dir=tmp_path / "run",
        progress=False,
        log=lambda m: None,
        generator=fake,
    )
    tuned = result.record.finetune
    meta = json.loads(
        (Path(tuned.token_cache) / "meta.json").read_text(encoding="utf-8")
    )
    assert meta["loss_on"] == "assistant" and tuned.eval_loss_after < tuned.eval_loss_before
    assert (tmp_path / "run" / "corpus_audit.csv").is_file()
    # run.json says what the loss counted, through which template, on how many tokens
    assert tuned.loss_on == "assistant" and tuned.chat_template_sha256 == sha256(CHAT_TEMPLATE.encode()).hexdigest()
    assert (tuned.train_targets, tuned.val_targets) == (meta["train_targets"], meta["val_targets"])
    assert 0 < tuned.train_targets < tuned.train_tokens
    html = (tmp_path / "run" / "report.html").read_text(encoding="utf-8")
    assert '<tr><th>loss on</th><td class="num">assistant tokens only</td></tr>' in html
    assert f'<tr><th>train target tokens</th><td class="num">{tuned.train_targets:,}</td></tr>' in html

    bare = chat_run_config(tmp_path / "bare", build_chat_model(tmp_path / "bare" / "base", template=None))
    with pytest.raises(ConfigError, match="has no chat template"):
        run(load_config(bare), out_dir=tmp_path / "bare" / "run", progress=False, log=lambda m: None, generator=fake)
    assert not (tmp_path / "bare" / "run" / "corpus_audit.csv").exists()  # refused before the audit
