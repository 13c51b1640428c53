"""Where a sample ends (harness.models.chat.stop_ids): the end of text, the model's
generation_config.eos_token_id list and a chat template's end-of-turn token, in both engines.

The model is tests/chat_model.py's tiny Llama with ``end_of_turn=True``: every turn ends
with the special token ``<|end|>`` (id 7), not ``</s>`` (id 2), as Llama-3's ``<|eot_id|>``
does, and ``eos_boost`` makes ``<|end|>`` likely.  Greedy decoding picks ``<|end|>`` at once,
so ``min_new_tokens: 3`` shows both the ban (nothing ends before 3 tokens) and the stop.
"""

from __future__ import annotations

import pytest
import torch

from chat_model import END_OF_TURN, build_chat_model, chat_tokenizer, tiny_llama
from harness.config import DecodingConfig
from harness.data.probes import Probe
from harness.models.chat import end_of_turn_id, resolve, stop_ids
from harness.models.gencache import decoding_hash
from harness.models.generator import SamplingPlan
from harness.models.hf import HFLocalGenerator, encode_prompt, generate_samples
from harness.models.loading import load_model
from harness.models.sampler import Job, SamplerSettings, sample
from harness.models.topp import DrawSettings

EOS, EOT, USER = 2, 7, 5
PROBES = tuple(Probe("t", f"p{i}", "c", t) for i, t in enumerate(["今日の天気は？", "本を借りたい", "こんにちは"]))
GREEDY_3 = DecodingConfig(do_sample=False, max_new_tokens=12, min_new_tokens=3)
SAMPLED = DecodingConfig(max_new_tokens=12)


@pytest.fixture(scope="module")
def eot_dir(tmp_path_factory):
    return build_chat_model(tmp_path_factory.mktemp("eot") / "model", seed=0, eos_boost=0.45, end_of_turn=True)


@pytest.fixture(scope="module")
def eot_model(eot_dir):
    return load_model(eot_dir, device="cpu")


def plan(chat="auto", decoding=SAMPLED) -> SamplingPlan:
    return SamplingPlan(PROBES, 1, decoding, 7, chat=chat)


def test_stop_ids_gather_end_of_text_generation_config_and_the_end_of_turn(tmp_path, eot_model):
    generator = HFLocalGenerator(device="cpu")
    listed = build_chat_model(tmp_path / "listed", end_of_turn=True, generation_eos=["</s>", "<|user|>"])
    assert generator.stop_ids("m", str(listed), plan()) == (EOS, USER, EOT)
    assert generator.stop_ids("m", str(listed), plan(chat=False)) == (EOS, USER)  # no template: no end of turn
    tok = eot_model.tokenizer
    assert tok.convert_tokens_to_ids(END_OF_TURN) == EOT
    assert stop_ids(eot_model.model, tok, resolve(tok, "auto", "sys", "m")) == (EOS, EOT)
    default = chat_tokenizer()  # the default template ends a turn with the end of text itself
    assert end_of_turn_id(default, resolve(default, True, None, "m")) == EOS
    # a template that writes plain text after a reply, or refuses an assistant turn: no end of turn
    plain_end = chat_tokenizer(template="{% for m in messages %}{{ m['content'] }}。\n{% endfor %}")
    assert end_of_turn_id(plain_end, resolve(plain_end, True, None, "m")) is None
    refusing = chat_tokenizer(
        template="{% for m in messages %}{% if m['role'] == 'assistant' %}{{ raise_exception('no') }}"
        "{% endif %}{{ m['content'] }}{% endfor %}"
    )
    assert stop_ids(None, refusing, resolve(refusing, True, None, "m")) == (EOS,)


@pytest.mark.parametrize("engine", ["harness", "reference"])
def test_both_engines_stop_at_the_end_of_turn_and_ban_it_under_min_new_tokens(eot_model, engine):
    samples = generate_samples(eot_model, "m", PROBES, GREEDY_3, 2, 7, progress=False, engine=engine)
    assert [(s.completion_tokens, s.hit_max_tokens) for s in samples] == [(3, False)] * len(samples)
    # plain prompts: <|end|> is no stop of this model, so greedy runs to the budget
    plain = generate_samples(eot_model, "m", PROBES, GREEDY_3, 1, 7, progress=False, engine=engine, chat=False)
    assert {(s.completion_tokens, s.hit_max_tokens) for s in plain} == {(12, True)}


def test_the_engines_agree_on_where_greedy_samples_end(eot_model):
    ours = generate_samples(eot_model, "m", PROBES, GREEDY_3, 1, 7, progress=False)
    theirs = generate_samples(eot_model, "m", PROBES, GREEDY_3, 1, 7, progress=False, engine="reference")
    assert [(s.completion, s.completion_tokens) for s in ours] == [(s.completion, s.completion_tokens) for s in theirs]


def test_a_generation_config_eos_list_stops_plain_prompts_in_both_engines(tmp_path):
    folder = build_chat_model(tmp_path / "m", eos_boost=0.45, end_of_turn=True, generation_eos=["</s>", END_OF_TURN])
    loaded = load_model(folder, device="cpu")
    for engine in ("harness", "reference"):
        plain = generate_samples(loaded, "m", PROBES, GREEDY_3, 1, 7, progress=False, engine=engine, chat=False)
        assert {(s.completion_tokens, s.hit_max_tokens) for s in plain} == {(3, False)}, engine


def test_sampled_samples_stop_at_the_end_of_turn_whatever_the_batch_size(eot_model):
    runs = [
        generate_samples(eot_model, "m", PROBES, SAMPLED, 6, 7, progress=False, batch_size=size) for size in (1, 4, 64)
    ]
    assert runs[0] == runs[1] == runs[2]
    ended = [s for s in runs[0] if not s.hit_max_tokens]
    assert 3 <= len(ended) < len(runs[0])  # some end at <|end|>, some run to the budget
    # the sampler cut each sample exactly at its first <|end|>: without that stop the same stream goes on
    # through the very <|end|> where it ended
    chat = resolve(eot_model.tokenizer, "auto", None, "m")
    prompts = {p: encode_prompt(eot_model, p, SAMPLED, chat).ids for p in PROBES}
    js = [Job(i, prompts[s.probe], s.seed, 12) for i, s in enumerate(runs[0])]
    draw = DrawSettings(True, SAMPLED.temperature, SAMPLED.top_p, SAMPLED.top_k, SAMPLED.repetition_penalty)
    stopped = {f.key: f.tokens for f in sample(eot_model.model, js, SamplerSettings(draw, EOS, 3, stop_ids=(EOT,)))}
    going_on = {f.key: f.tokens for f in sample(eot_model.model, js, SamplerSettings(draw, EOS, 3))}
    for key, s in enumerate(runs[0]):
        assert len(stopped[key]) == s.completion_tokens
        if not s.hit_max_tokens:
            assert going_on[key][: s.completion_tokens + 1] == stopped[key] + [EOT]


def test_the_stop_ids_are_part_of_the_cache_key():
    decoding = DecodingConfig()
    assert decoding_hash(decoding, "harness", plan(), (EOS,)) != decoding_hash(decoding, "harness", plan(), (EOS, EOT))
    assert decoding_hash(decoding, "harness", plan(), None) == decoding_hash(decoding, "harness", plan())


def test_the_sampler_bans_every_stop_id_under_min_new_tokens():
    tokenizer = chat_tokenizer(end_of_turn=True)
    model = tiny_llama(tokenizer, eos_boost=5.0, boosted=END_OF_TURN)  # <|end|> all but certain
    js = [Job(0, [10, 11, 12], 1, 8)]
    draw = DrawSettings(False, 1.0, 1.0, 0, 1.0)
    with torch.inference_mode():
        first = list(sample(model, js, SamplerSettings(draw, EOS, 3, stop_ids=(EOT,))))
        banned = list(sample(model, js, SamplerSettings(draw, EOS, 3, min_new_tokens=4, stop_ids=(EOT,))))
    assert first[0].tokens == [] and not first[0].hit_max_tokens
    assert len(banned[0].tokens) == 4 and EOT not in banned[0].tokens and EOS not in banned[0].tokens
