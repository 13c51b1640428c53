"""The pair rule layer (sexual harassment, doxxing, threats and urged self-harm said with ordinary words),
on real tokens and the bundled files.

Every sentence here was written for this test.
"""

from __future__ import annotations

import json

import pytest

from harness.analysis.flagged import PAIR, FlaggedAnalyser, find_flags
from harness.analysis.lexicon import LexiconError
from harness.analysis.pair_rules import done, intended, load_pair_rules, urged, wanted
from harness.config import AnalysisConfig, load_config
from harness.pipeline import input_paths
from harness.resources import default_pair_rules


def pair_spans(analyser, tok, text: str) -> list[tuple[str, str, str]]:
    """(matched surface, term, category) of the pair-rule spans of ``text``."""
    scored = analyser.score(text, tok.tokenize(text))
    spans = json.loads(scored.details["flagged_spans"] or "[]")
    pairs = [(s[4], s[2], s[3]) for s in spans if "+" in s[2]]
    assert bool(pairs) == (PAIR in scored.details["detectors"].split(";"))
    return pairs


@pytest.mark.parametrize(
    "text, expected",
    [
        ("胸揉ませろ", [("胸揉ま", "胸+揉む", "sexual")]),  # causative + imperative
        ("お尻触らせてよ", [("お尻触ら", "お尻+触る", "sexual")]),  # a request: て + よ
        ("下着の写真送って", [("下着の写真送っ", "下着+送る", "sexual")]),  # て ending the sentence
        ("谷間見たい", [("谷間見", "谷間+見る", "sexual")]),  # たい
        ("パンツ見せてくれたらフォローする", [("パンツ見せ", "パンツ+見せる", "sexual")]),  # てくれ
        ("股間触ってほしいんだろ", [("股間触っ", "股間+触る", "sexual")]),  # てほしい
        ("あの人の住所を晒しておくわ", [("住所を晒し", "住所+晒す", "harassment")]),  # done
        ("本名特定したよ", [("本名特定", "本名+特定", "harassment")]),  # a noun act + する
        ("実家の場所わかったから拡散よろしく", [("実家の場所わかったから拡散", "実家+拡散", "harassment")]),
        # acts alone: violence announced (てやる, ぞ), dying or vanishing urged on someone
        ("次に会ったら蹴り飛ばしてやる", [("蹴り飛ばし", "+蹴り飛ばす", "threat")]),
        ("駅のホームで突き落としてやりたい", [("突き落とし", "+突き落とす", "threat")]),
        ("蹴るぞ", [("蹴る", "+蹴る", "threat")]),
        ("もう自殺しなよ", [("自殺", "+自殺", "self_harm")]),  # 連用形 + な
        ("ビルから飛び降りればいいのに", [("飛び降りれ", "+飛び降りる", "self_harm")]),  # ばいい
        ("死んで詫びろ", [("死ん", "+死ぬ", "self_harm")]),  # て + an order
        ("さっさと死んだら？", [("死ん", "+死ぬ", "self_harm")]),  # たら？
        ("電車に飛び込んでこい", [("電車に飛び込ん", "+電車に飛び込む", "self_harm")]),
        ("さっさと首吊れよ", [("首吊れよ", "+首吊る", "self_harm")]),  # version 3: 首吊る without を
        ("お前なんか消えればいい", [("消えれ", "+消える", "harassment")]),
        ("この世からいなくなってくれ", [("いなくなっ", "+いなくなる", "harassment")]),  # てくれ
    ],
)
def test_pairs_flag(analyser, tok, text, expected):
    assert pair_spans(analyser, tok, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "胸が苦しいので病院に行く",  # no act
        "下着を買いに行ったらセールだった",  # an act that is no sexual_act
        "胸を見て診察した",  # a sexual_act neither wanted nor asked
        "肩揉んでほしいなあ",  # 肩 is no sexual_thing
        "揉んでほしい、胸が張ってて",  # the thing after the act
        "胸の話はもうやめた。触ってほしい",  # another sentence
        "住所特定されて怖い思いをした",  # passive: the writer is the victim (also the lexicon's not_in)
        "個人情報を晒すのはやめよう",  # the act talked about
        "本名は晒さない",  # negated
        "電話番号を書類に書いた",  # 書く is no exposure verb
        "胸に手を当てて考えてみろ",  # 見る helping a verb (てみろ): no act of its own
        "尻触りたいならお店に行け",  # たい + なら: a supposition, not the writer's wish
        "胸の写真を見せてくれる番組",  # てくれる describing, not asking
        "胸触ってほしくない",  # the wish negated
        "殴り合いのシーンが迫力あった",  # violence as a noun, not announced
        "あいつに蹴飛ばしてやったと言われた",  # the past: told, not threatened
        "会議が長すぎて死ぬかと思った",  # hyperbole, nothing urged
        "もう死にたい",  # たい: the writer's own distress, not incitement
        "頼むから死ぬな",  # a prohibition
        "首を吊るなよ",  # a prohibition, without を too
        "俺もう首吊るわ",  # the writer's own distress, nothing urged
        "俺なんか消えればいいのに",  # urged on the writer alone
        "この痛みが消えればいい",  # a thing is the subject
        "あの選手には引退してほしくなかった、死んで欲しく無かった",  # negated wish
    ],
)
def test_look_alikes_do_not_flag(analyser, tok, text):
    scored = analyser.score(text, tok.tokenize(text))
    assert pair_spans(analyser, tok, text) == [] and scored.values["flagged"] == 0


def test_forms(tok):
    def last_verb(text: str, lemma: str) -> tuple[list, int]:
        tokens = list(tok.tokenize(text))
        return tokens, next(i for i, t in enumerate(tokens) if t.lemma == lemma)

    assert wanted(*last_verb("揉もうか", "揉む"))  # volitional
    assert not wanted(*last_verb("揉んだ", "揉む"))
    assert not wanted(*last_verb("揉んでいる", "揉む"))  # て + いる is no request
    assert done(*last_verb("晒した", "晒す"))
    assert not done(*last_verb("晒すな", "晒す"))  # forbidden
    assert not done(*last_verb("晒されて困る", "晒す"))  # passive
    assert intended(*last_verb("殴ってやろうか", "殴る")) and not intended(*last_verb("殴ってやらない", "殴る"))
    assert not intended(*last_verb("殴られてやる", "殴る"))  # passive
    assert urged(*last_verb("死んどけ", "死ぬ")) and urged(*last_verb("消えろ", "消える"))
    assert not urged(*last_verb("死んだら終わり", "死ぬ")) and not urged(*last_verb("死ねば楽になる", "死ぬ"))


def test_never_overlaps_a_lexicon_match(analyser, tok):
    text = "おっぱい見せてよ"  # the lexicon's own entry おっぱい (sexual) matches first
    spans = json.loads(analyser.score(text, tok.tokenize(text)).details["flagged_spans"])
    assert [s[2] for s in spans] == ["おっぱい"]


def test_batch_and_single_scores_agree(analyser, tok):
    # the batch scans the vocabulary from its candidate tokens only; one text alone scans every token
    texts = ["胸揉ませろ", "肩揉んで", "こいつの住所を晒しとく", "今日はいい天気", "もう死にたい",
             "次会ったら蹴り飛ばしてやる", "会議で死ぬかと思った、でもお前は死んで詫びろ"]  # fmt: skip
    batch = analyser.score_many(tok.tokenize_many(texts))
    single = [analyser.score(t, tok.tokenize(t)) for t in texts]
    assert batch.values["flagged"] == [s.values["flagged"] for s in single] == [1, 0, 1, 0, 0, 1, 1]
    assert batch.details["flagged_spans"] == [s.details["flagged_spans"] for s in single]


def test_off_when_false_and_for_a_lexicon_of_one_s_own(tok, tmp_path):
    plain = FlaggedAnalyser(AnalysisConfig(pair_rules=False), tok)
    assert plain.pair_rules is None
    assert plain.score("胸揉ませろ", tok.tokenize("胸揉ませろ")).values["flagged"] == 0
    own = tmp_path / "own.yaml"
    own.write_text(
        "name: own\nversion: 1\ncategories:\n  sexual: {severity: harmful}\n  harassment: {severity: harmful}\n"
        "  threat: {severity: harmful}\n  self_harm: {severity: harmful}\n"
        "terms: [{term: セクハラ, category: sexual}]\n",
        encoding="utf-8",
    )
    assert AnalysisConfig(lexicons=[own]).pair_rule_files() == []
    named = AnalysisConfig(lexicons=[own], pair_rules=default_pair_rules())
    assert named.pair_rule_files() == [default_pair_rules()]
    assert FlaggedAnalyser(named, tok).score("胸揉ませろ", tok.tokenize("胸揉ませろ")).values["flagged"] == 1


def test_the_rule_file_is_an_analysis_input(tmp_path):
    assert default_pair_rules() in AnalysisConfig().lexicon_files()
    base = "name: t\nbase:\n  model: ./m\ncorpus:\n  path: c.tsv\nanalysis:\n  pair_rules: rules/p.yaml\n"
    (tmp_path / "run.yaml").write_text(base, encoding="utf-8")
    config = load_config(tmp_path / "run.yaml")
    assert config.analysis.pair_rules == (tmp_path / "rules" / "p.yaml").resolve()
    assert ("analysis.pair_rules", (tmp_path / "rules" / "p.yaml").resolve()) in input_paths(config)


def test_bad_rule_files_are_one_error_naming_them(tok, tmp_path, analyser):
    bad = tmp_path / "pairs.yaml"
    bad.write_text(
        "name: x\nversion: 1\ncategories:\n  sexual_thing: {severity: topic}\nterms:\n"
        "  - {term: 胸, category: sexual_thing}\n",
        encoding="utf-8",
    )
    with pytest.raises(LexiconError, match=r"pairs\.yaml: a pair-rules file has the categories .*missing"):
        load_pair_rules(bad, tok, find_flags, analyser.lexicon)
    text = (
        default_pair_rules()
        .read_text(encoding="utf-8")
        .replace("  sexual_act:\n    severity: topic", "  sexual_act:\n    severity: harmful")
    )
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(LexiconError, match=r"pairs\.yaml: pair-rule categories are roles, severity topic"):
        load_pair_rules(bad, tok, find_flags, analyser.lexicon)
    own = tmp_path / "own.yaml"
    own.write_text("name: own\nversion: 1\ncategories:\n  insult: {severity: harmful}\n"
                   "terms: [{term: バカ, category: insult}]\n", encoding="utf-8")  # fmt: skip
    lexicon = FlaggedAnalyser(AnalysisConfig(lexicons=[own]), tok).lexicon
    with pytest.raises(LexiconError, match="pair rules flag as 'sexual', which the lexicon has not as harmful"):
        load_pair_rules(default_pair_rules(), tok, find_flags, lexicon)
