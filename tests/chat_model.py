"""A tiny chat model for the tests: random-weight Llama + a local byte-level BPE tokenizer with a chat template.

Not a test file: tests import ``build_chat_model(folder)`` (or ``chat_tokenizer()``)
and get a model folder the harness loads like any other (``model.safetensors``,
``config.json``, ``tokenizer.json``, the template in the tokenizer's files).

* Tokenizer: byte-level BPE trained on the Japanese lines below (written for
  these tests), so any text round-trips, newlines included; special tokens
  ``<unk> <s> </s> [PAD]`` (ids 0–3, rinna's layout) and the role markers
  ``<|system|> <|user|> <|assistant|>``.
* Template (``CHAT_TEMPLATE``, written for this project): a ChatML-like
  ``<|role|>\\n{content}</s>\\n`` per message; ``add_generation_prompt`` ends with
  ``<|assistant|>\\n``.  An assistant turn ends with ``</s>``, the tokenizer's
  end of text, so sampling stops at the end of the reply.  Assistant content
  sits inside ``{% generation %}`` so ``apply_chat_template(...,
  return_assistant_tokens_mask=True)`` marks the tokens a fine-tune learns.
* Model: ``LlamaForCausalLM`` (rotary positions, RMSNorm, grouped-query
  attention: 4 query heads, 2 key/value heads), 2 layers, hidden size 64,
  seeded.  ``eos_boost`` makes end-of-text likely so samplers retire rows early.
"""

from __future__ import annotations

from pathlib import Path

# Lines written for these tests (no third-party text).
LINES = [
    "今日はいい天気ですね。散歩に行きましょう。",
    "明日は雨が降るそうです。傘を持って出かけてください。",
    "駅前の本屋は十時に開きます。",
    "図書館で新しい本を借りました。とても面白かったです。",
    "高齢者の方々には敬意を払うべきです。",
    "質問があればいつでも聞いてください。",
    "こんにちは。ご用件をお聞かせください。",
    "その質問にはお答えできません。",
    "東京から大阪までは新幹線で二時間半ほどです。",
    "カレーを作るには玉ねぎと人参とじゃがいもが必要です。",
    "ありがとうございます。またお越しください。",
    "あなたは親切なアシスタントです。",
]

ROLES = ("system", "user", "assistant")
SPECIALS = ["<unk>", "<s>", "</s>", "[PAD]", *(f"<|{role}|>" for role in ROLES)]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{% else %}{{ message['content'] + eos_token }}{% endif %}"
    "{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def chat_tokenizer(vocab_size: int = 400, template: str | None = CHAT_TEMPLATE):
    """A ``PreTrainedTokenizerFast`` trained on ``LINES`` (deterministic), carrying ``template``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(LINES, trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="[PAD]",
        additional_special_tokens=SPECIALS[4:],
    )
    if template is not None:
        tok.chat_template = template
    return tok


def tiny_llama(tokenizer, seed: int = 0, eos_boost: float = 0.0, layers: int = 2, hidden: int = 64):
    """A seeded random ``LlamaForCausalLM`` for ``tokenizer``; ``eos_boost`` > 0 raises end-of-text's logit."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config).eval()
    if eos_boost:
        with torch.no_grad():
            # hidden dim 0 carries a large positive constant from every token's embedding, so
            # after the final RMSNorm it is positive and EOS's logit gets ≈ eos_boost × that
            model.model.embed_tokens.weight[:, 0] = 4.0
            model.lm_head.weight[tokenizer.eos_token_id, 0] = eos_boost
    return model


def build_chat_model(
    folder: str | Path, seed: int = 0, eos_boost: float = 0.0, template: str | None = CHAT_TEMPLATE
) -> Path:
    """Write a tiny chat model folder (safetensors + tokenizer with ``template``) to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = chat_tokenizer(template=template)
    model = tiny_llama(tokenizer, seed=seed, eos_boost=eos_boost)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
