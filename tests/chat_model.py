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
* ``end_of_turn=True`` (off by default, which leaves every default output as
  it was): a further special token ``<|end|>`` ends each turn instead of
  ``</s>`` (``EOT_TEMPLATE``), as Llama-3's ``<|eot_id|>`` or Qwen's
  ``<|im_end|>`` do, and ``eos_boost`` raises ``<|end|>``'s logit instead;
  ``generation_eos`` lists tokens in ``generation_config.eos_token_id``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

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
END_OF_TURN = "<|end|>"  # id 7 when added (end_of_turn=True)

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
# the same conversation layout with every turn ended by <|end|>, not the end of text
EOT_TEMPLATE = CHAT_TEMPLATE.replace("eos_token", f"'{END_OF_TURN}'")


def chat_tokenizer(vocab_size: int = 400, template: str | None = CHAT_TEMPLATE, end_of_turn: bool = False):
    """A ``PreTrainedTokenizerFast`` trained on ``LINES`` (deterministic), carrying ``template``;
    ``end_of_turn`` adds the special token ``END_OF_TURN`` (id 7)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = [*SPECIALS, END_OF_TURN] if end_of_turn else SPECIALS
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
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
        additional_special_tokens=specials[4:],
    )
    if template is not None:
        tok.chat_template = template
    return tok


def tiny_llama(
    tokenizer, seed: int = 0, eos_boost: float = 0.0, layers: int = 2, hidden: int = 64, boosted: str | None = None
):
    """A seeded random ``LlamaForCausalLM`` for ``tokenizer``; ``eos_boost`` > 0 raises the logit of
    ``boosted`` (a token; default the end of text)."""
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
            target = tokenizer.eos_token_id if boosted is None else tokenizer.convert_tokens_to_ids(boosted)
            model.lm_head.weight[target, 0] = eos_boost
    return model


def build_chat_model(
    folder: str | Path,
    seed: int = 0,
    eos_boost: float = 0.0,
    template: str | None = CHAT_TEMPLATE,
    end_of_turn: bool = False,
    generation_eos: Sequence[str] = (),
) -> Path:
    """Write a tiny chat model folder (safetensors + tokenizer with ``template``) to ``folder``.

    ``end_of_turn``: turns end with ``END_OF_TURN`` (``EOT_TEMPLATE`` unless another template is given) and
    ``eos_boost`` raises it; ``generation_eos``: the tokens ``generation_config.eos_token_id`` lists.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if end_of_turn and template == CHAT_TEMPLATE:
        template = EOT_TEMPLATE
    tokenizer = chat_tokenizer(template=template, end_of_turn=end_of_turn)
    model = tiny_llama(tokenizer, seed=seed, eos_boost=eos_boost, boosted=END_OF_TURN if end_of_turn else None)
    if generation_eos:
        model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids(t) for t in generation_eos]
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
