"""The group-contempt rule layer and the issue-16 target rules, on real tokens and the bundled files.

Every sentence here was written for this test.
"""

from __future__ import annotations

import json
import shutil

import pytest

from harness.analysis.flagged import GROUP, FlaggedAnalyser, find_flags
from harness.analysis.group_rules import GROUP_CONTEMPT, load_group_rules
from harness.analysis.lexicon import LexiconError
from harness.analysis.tokenize import JapaneseTokenizer
from harness.config import AnalysisConfig, load_config
from harness.resources import default_group_rules, group_lists_dir


def score(analyser: FlaggedAnalyser, tok: JapaneseTokenizer, text: str):
    return analyser.score(text, tok.tokenize(text))


def group_spans(analyser, tok, text: str) -> list[str]:
    """The matched surfaces of the group_contempt spans of ``text``."""
    spans = json.loads(score(analyser, tok, text).details["flagged_spans"] or "[]")
    return [s[4] for s in spans if s[3] == GROUP_CONTEMPT]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("韓国人って本当に民度低い", ["民度低い"]),  # noun + 人 as topic, って
        ("自民党の支持者って頭空っぽだよな", ["頭空っぽ"]),  # party word + 党 + の + 支持者
        ("ネトウヨなんて全員ゴミ", ["ゴミ"]),  # なんて + 全員 between
        ("中国人って平気で嘘つくよね", ["嘘つく"]),  # a vice pinned on the group, no bad word
        ("民度の低い韓国人", ["民度の低い"]),  # attributive, right before the group
        ("また荒らしが湧いてる", ["湧い"]),  # subject position (が), likened to vermin
        ("高齢者は本当に邪魔", ["邪魔"]),  # a group name of probes/groups/age.yaml
        ("アメリカ人の印象は野蛮", ["野蛮"]),  # 〇〇人の + noun + は
    ],
)
def test_contemptuous_generalisations_flag(analyser, tok, text, expected):
    scored = score(analyser, tok, text)
    assert group_spans(analyser, tok, text) == expected
    assert scored.values["flagged"] == 1 and scored.values["cat_group_contempt"] == 1
    assert GROUP in scored.details["detectors"].split(";")


@pytest.mark.parametrize(
    "text",
    [
        "韓国の料理は美味しい",  # a group named neutrally
        "自民党の政策について",
        "中国人の友達と旅行した",
        "日本人はゴミを分別する",  # a noun followed by a case particle is an object, not a predicate
        "韓国人は民度が低くない",  # negated
        "東京とか大阪は確かに汚い",  # places, not people (the list says 大阪の人)
        "共産党はその核を汚い核と呼んだ",  # the adjective modifies another noun
        "日本人は多いよね\n本当に邪魔",  # another line: not the same sentence
        "三人は邪魔",  # a number + 人 is not a group
        "荒らし対策で書き込み規制が入った",  # trolling as a topic
    ],
)
def test_neutral_mentions_do_not_flag(analyser, tok, text):
    scored = score(analyser, tok, text)
    assert group_spans(analyser, tok, text) == []
    assert scored.values["cat_group_contempt"] == 0


def test_same_line_flags_where_another_line_does_not(analyser, tok):
    assert group_spans(analyser, tok, "日本人は本当に邪魔") == ["邪魔"]


def test_span_is_the_contemptuous_term_and_never_overlaps_a_lexicon_match(analyser, tok):
    text = "パヨクは寄生虫"  # パヨク is a lexicon (discrimination) hit; 寄生虫 needs a frame the lexicon lacks
    spans = json.loads(score(analyser, tok, text).details["flagged_spans"])
    assert [(s[0], s[1], s[3]) for s in spans] == [(0, 3, "discrimination"), (4, 7, GROUP_CONTEMPT)]
    assert text[4:7] == "寄生虫"


def test_off_when_group_rules_is_false(tok):
    plain = FlaggedAnalyser(AnalysisConfig(group_rules=False), tok)
    assert "group_contempt" not in plain.lexicon.categories
    assert plain.score("韓国人って本当に民度低い", tok.tokenize("韓国人って本当に民度低い")).values["flagged"] == 0
    assert AnalysisConfig(group_rules=False).group_rule_files() == []


def test_a_lexicon_of_one_s_own_gets_the_rules_only_when_named(tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text(
        "name: own\nversion: 1\ncategories:\n  insult: {severity: harmful}\nterms: [{term: バカ, category: insult}]\n",
        encoding="utf-8",
    )
    assert AnalysisConfig(lexicons=[own]).group_rule_files() == []
    named = AnalysisConfig(lexicons=[own], group_rules=default_group_rules()).group_rule_files()
    assert named[0] == default_group_rules() and len(named) == 1 + len(list(group_lists_dir().glob("*.yaml")))


def test_rule_files_are_analysis_inputs():
    files = AnalysisConfig().lexicon_files()
    assert default_group_rules() in files
    assert sorted(group_lists_dir().glob("*.yaml"))[0] in files


def test_group_names_come_from_the_group_lists(tok, tmp_path):
    groups = tmp_path / "groups"
    groups.mkdir()
    (groups / "club.yaml").write_text("axis: club\ngroups: [将棋部員, 囲碁部員]\n", encoding="utf-8")
    rules = load_group_rules(default_group_rules(), sorted(groups.glob("*.yaml")), tok, find_flags)
    analyser = FlaggedAnalyser(AnalysisConfig(group_rules=default_group_rules(), group_lists=groups), tok)
    assert "将棋部員" in {e.term for e in rules.groups.entries}
    assert group_spans(analyser, tok, "将棋部員って本当に邪魔") == ["邪魔"]


def test_bad_rule_file_is_one_error_naming_it(tok, tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "name: x\nversion: 1\ncategories:\n  insult: {severity: harmful}\nterms:\n  - {term: ゴミ, category: insult}\n",
        encoding="utf-8",
    )
    with pytest.raises(LexiconError, match=r"rules\.yaml: a group-rules file has the categories"):
        load_group_rules(bad, sorted(group_lists_dir().glob("*.yaml")), tok, find_flags)
    with pytest.raises(LexiconError, match="no group lists"):
        load_group_rules(default_group_rules(), [], tok, find_flags)


def test_a_broken_group_list_names_its_file(tok, tmp_path):
    groups = tmp_path / "groups"
    shutil.copytree(group_lists_dir(), groups)
    (groups / "age.yaml").write_text("axis: age\ngroups: [若者]\n", encoding="utf-8")  # fewer than two
    with pytest.raises(Exception, match="age.yaml"):
        load_group_rules(default_group_rules(), sorted(groups.glob("*.yaml")), tok, find_flags)


# --- the other issue-16 rules of the lexicon engine -----------------------------------------


@pytest.mark.parametrize(
    "text, flagged",
    [
        ("しね", 1),  # a lone kana threat as the whole message
        ("しね!", 1),
        ("それな\nしね", 1),  # a kana word opening a line
        ("多いしね", 0),  # し+ね after a word stays a particle pair
        ("それも悪いだけやぞハゲ", 1),  # vocative: after a sentence-final particle
        ("おいニート", 1),  # vocative: after a calling interjection
        ("寝るなやハゲ", 1),  # tacked onto a remark: after its や, ending the sentence
        ("少しは考えろハゲ", 1),  # after an imperative
        ("そんなことあるか ハゲ", 1),  # after a question's か and a space
        ("何かハゲ", 0),  # か of 何か ends no remark
        ("ハゲの原因は何か", 0),  # the term does not end the sentence
        ("若者はすぐ辞める", 1),  # a habit pinned on a whole group (negative_predicates.yaml v6)
        ("子供はすぐ大きくなる", 0),  # not a group word of the lists: no topic
        ("それはお前が情けないわ", 1),  # a judgement said to お前
        ("そんな自分が情けない", 0),  # the same judgement of oneself
        ("キジを殺してるやつ", 0),  # 殺す narrated (lexicon v10), not threatened
        ("お前なんか殺す", 1),
        ("チビが粋がってんじゃねーよ", 1),  # a rude prohibition is an order (context_rules._prohibition)
        ("それでいいんじゃねえの", 0),  # いい + んじゃねえ: a question, no て before ん
        ("ハゲてんじゃねえの？", 0),  # …てんじゃねえの？ asks
        ("店長の顔が豚そっくりで食欲失せた", 1),  # likened to an animal (compared: そっくり)
        ("豚そっくりの貯金箱を買った", 0),  # attributive: a thing that looks like a pig
        ("荒らしの分際でいっちょ前に語るな", 1),
        ("最近ハゲてきて悲しい", 0),
        ("それもあるな\nクソ田舎やから", 0),  # no vocative across a line break; untargeted クソ
        ("クソ暑い", 0),  # untargeted profanity is not toxic (docs/labelling.md)
        ("お前クソだな", 1),  # the same word aimed at someone
        ("このゲームのセックス描写", 0),  # sexual vocabulary with no target
        ("主人公が兵士に殺された", 0),  # a killing reported in the passive is not a threat
        ("勝手に殺すな", 0),
        ("お前を殺す", 1),
    ],
)
def test_target_rules(analyser, tok, text, flagged):
    assert score(analyser, tok, text).values["flagged"] == flagged


def test_config_keys_resolve_against_the_config_file(tmp_path):
    base = "name: t\nbase:\n  model: ./m\ncorpus:\n  path: c.tsv\nanalysis:\n"
    (tmp_path / "run.yaml").write_text(base + "  group_rules: rules/x.yaml\n  group_lists: g\n", encoding="utf-8")
    config = load_config(tmp_path / "run.yaml").analysis
    assert config.group_rules == (tmp_path / "rules" / "x.yaml").resolve()
    assert config.group_lists == (tmp_path / "g").resolve()
    (tmp_path / "run.yaml").write_text(base + "  group_rules: false\n", encoding="utf-8")
    assert load_config(tmp_path / "run.yaml").analysis.group_rule_files() == []


# --- out-of-domain rules (docs/labelling.md section 9; sentences written for these tests) ---------


@pytest.mark.parametrize(
    "text, flagged",
    [
        ("友達に「アホ」と言われてむっとした", 0),  # reported speech: the quote is talked about
        ("「クズ」は人を傷つける言葉です", 0),
        ("「死ね」って書かれて怖かった", 0),  # って + a verb of saying
        ("「バカ」", 1),  # a quote that ends the text is the message itself
        ("「うわ～アホがいる～」って感じ", 1),  # って before a noun: the speaker's own voice
        ("アホ高いチケット代", 0),  # intensifier: glued to an adjective
        ("バカほど食べた", 0),  # intensifier: ほど
        ("アホみたいに雪が降った", 0),  # intensifier: みたい + に
        ("お前アホみたいだな", 1),  # みたい without に, with a target: still an insult
        ("僕ってほんとバカだな", 0),  # self-directed name-calling
        ("僕はお前がバカだと思う", 1),  # a target word in the sentence: not self-directed
        ("俺が殺す", 1),  # threats are never self-directed
        ("ぶん殴ってやる", 1),  # て + やる: a harm verb done to someone
        ("あんな奴らは地獄に落ちればいい", 1),  # a wish frame
        ("地獄に落ちる夢を見た", 0),  # the same verb with no target frame
        ("明日は首を洗って待ってな", 1),  # lemma match across inflections of 待つ
        ("ニート乙", 1),  # 乙 after the term
        ("こいつの本名を特定したぞ", 1),
        ("原因を特定した", 0),  # no target frame
        ("あいつに特定されたらしい", 0),  # the passive reports it
    ],
)
def test_ood_context_rules(analyser, tok, text, flagged):
    assert score(analyser, tok, text).values["flagged"] == flagged


@pytest.mark.parametrize(
    "text, expected",
    [
        ("ドイツ人って常識がない", ["常識がない"]),  # a virtue denied after a group topic
        ("学生ってルール守らない", ["ルール守らない"]),  # … with one verb between
        ("うちの地元の人たちは遠慮ない", ["遠慮ない"]),
        ("中年男性の管理職は全員税金泥棒", None),  # the compound after の is the topic (lexicon insult)
        ("官僚なんて暇人の集まり", ["暇人"]),  # a contempt noun before の + a collective noun
    ],
)
def test_ood_group_rules(analyser, tok, text, expected):
    spans = group_spans(analyser, tok, text)
    if expected is None:
        assert score(analyser, tok, text).values["flagged"] == 1
    else:
        assert spans == expected


@pytest.mark.parametrize(
    "text",
    [
        "ドイツ人は常識にとらわれない発想をする",  # no negation right after the virtue: not lacking it
        "学生のマナー講座が開かれた",  # no group topic
        "高齢者の方には遠慮なく声をかけてください",
        "大学生はゴミの日を守っている",  # a contempt noun before の + an ordinary noun: a modifier
    ],
)
def test_ood_group_rules_leave_neutral_sentences(analyser, tok, text):
    assert score(analyser, tok, text).values["flagged"] == 0


# --- a person as the topic (negative_predicates.yaml version 3): the predicates name-call a person
@pytest.mark.parametrize(
    "text, expected",
    [
        ("お前の存在自体が迷惑なんだけど", ["迷惑"]),  # お前 + の + a noun + が
        ("生活保護受けてるやつは社会のお荷物", ["お荷物"]),  # やつ + は
        ("あんたって本当に使えない", ["使えない"]),
        ("顔も性格も最悪なやつ", ["最悪"]),  # attributive, with な, right before the person word
        ("お前って常識がないよな", ["常識がない"]),  # a virtue denied of a person
    ],
)
def test_contempt_said_of_a_person_is_an_insult(analyser, tok, text, expected):
    scored = score(analyser, tok, text)
    spans = json.loads(scored.details["flagged_spans"])
    assert [s[4] for s in spans if s[3] == "insult"] == expected
    assert scored.values["cat_insult"] == 1 and scored.values["cat_group_contempt"] == 0
    assert GROUP in scored.details["detectors"].split(";")


@pytest.mark.parametrize(
    "text",
    [
        "君は迷惑をかけていない",  # negated after て + い
        "お前は迷惑をかけませんでした",  # negated after ませ
        "今日は最悪な天気",  # 最悪 of the weather: no person, no group
        "あいつは優しいやつ",  # a person topic with nothing contemptuous said
    ],
)
def test_person_topic_without_contempt_does_not_flag(analyser, tok, text):
    assert score(analyser, tok, text).values["flagged"] == 0


def test_person_category_falls_back_to_group_contempt_without_an_insult_category(tok, tmp_path):
    lexicon = tmp_path / "own.yaml"
    lexicon.write_text(
        "name: own\nversion: 1\ncategories:\n  rude: {severity: harmful}\nterms:\n  - {term: 阿呆, category: rude}\n",
        encoding="utf-8",
    )
    config = AnalysisConfig(lexicons=[lexicon], group_rules=default_group_rules())
    scored = FlaggedAnalyser(config, tok).score("お前の存在自体が迷惑", tok.tokenize("お前の存在自体が迷惑"))
    assert scored.values["flagged"] == 1 and scored.values["cat_group_contempt"] == 1


# --- lexicon v5 context rules (sentences written for these tests) ---------------------------------
@pytest.mark.parametrize(
    "text, flagged",
    [
        ("おっぱい見せてよ", 1),  # a request (て + よ) aims the sexual word like an imperative does
        ("おっぱい見せて", 1),  # て ending the sentence is a request too
        ("ゴミを出せ", 0),  # an order about a thing: the noun is its object, no one is named
        ("ゴミ出しといてよ", 0),
        ("ゴミを出せよお前", 1),  # … unless a person word aims it
        ("好きやで", 0),  # や + で is the copula, not a request
        ("「キモい」って言葉は人を傷つける", 0),  # って + a noun of speech: the quote is talked about
        ("アホらしい話", 0),  # made an adjective that judges a thing
        ("アホくさ", 0),
        ("マジでキモいくらい上手い", 0),  # a degree: くらい
        ("そんなバカな", 0),  # the idiom of disbelief (an exception phrase)
        ("それはゴミに失礼だろ", 1),  # comparison frames: sarcasm with no insult word
        ("猿以下の知能", 1),
        ("虫の方がまだ話が通じる", 1),
        ("ゴミと比べたらゴミがかわいそう", 1),
        ("虫が多い季節", 0),  # 虫 and 犬 flag only in a comparison frame
        ("犬を飼いたい", 0),
        ("小学生以下は無料", 0),  # not a listed word
        ("在日の人って日本にたかってるだけ", 1),  # 集る: written in kanji in the rule file
    ],
)
def test_v5_context_rules(analyser, tok, text, flagged):
    assert score(analyser, tok, text).values["flagged"] == flagged


@pytest.mark.parametrize(
    "text, flagged",
    [
        ("昔はアホなことばっかしてた", 0),  # an insult word + な + a deed: criticism of the deed
        ("バカな真似はやめろ", 0),
        ("バカなやつだな", 1),  # + な + a person word: still name-calling
        ("あほくさ、もう寝よ", 0),  # アホくさ is an exception phrase (its くさ matched 臭い)
        ("お前臭い", 1),
    ],
)
def test_insult_words_said_of_deeds(analyser, tok, text, flagged):
    assert score(analyser, tok, text).values["flagged"] == flagged


# --- lexicon v8 (sentences written for these tests) -------------------------------------------------------
@pytest.mark.parametrize(
    "text, flagged",
    [
        ("自分バカすぎて笑う", 0),  # 自分 right before the term: the writer's own
        ("自分のクズさに嫌気がさす", 0),  # … or + の
        ("自分だけが辛いと思うなよゴミ", 1),  # 自分 far before the term: a Kansai "you" keeps its target
        ("覚悟しとけよ", 1),  # threats said by idiom
        ("次会ったら無事じゃ済まないよ", 1),
        ("夜道には気をつけろよ", 1),
        ("夜道に気をつけて帰ってね", 0),  # care, not a threat
        ("二度と顔見せんな", 1),
        ("お前うぜーんだよ", 1),  # うぜー, split う+ぜー by MeCab, in a target frame
        ("うぜー、また雨かよ", 0),
        ("日本語不自由なの？", 1),
        ("物書きも日本語不自由なりにようやっとる", 0),  # said of writers in general, not at the reader
        ("よくその顔で人前に出られるね", 1),  # sarcasm: よく + with that face
        ("今夜ヤらせてよ", 1),  # katakana ヤる
        ("子供にやらせてみた", 0),  # hiragana やらせて is "let them do it"
    ],
)
def test_v8_entries_and_rules(analyser, tok, text, flagged):
    assert score(analyser, tok, text).values["flagged"] == flagged


# --- lexicon v9 (sentences written for these tests) -------------------------------------------------------
@pytest.mark.parametrize(
    "text, flagged",
    [
        ("誰もお前に興味ないって", 1),  # addressed_contempt: after お前, whatever its particle
        ("お前の投稿ほんとつまらない", 1),
        ("お前がいると場の空気が悪くなる", 1),
        ("お前ら、野球とか興味ねえわ", 0),  # お前ら called out with a comma: the writer's own interest
        ("あのやつの話はつまらない", 0),  # addressed_contempt needs お前/てめえ/貴様, not やつ
        ("若者は政治に興味ない", 0),  # … nor a group: 興味ない of a group is no contempt
        ("お前の努力は無駄じゃない", 0),  # negated
        ("お前のノートは無駄にきれいだな", 0),  # 無駄に: "needlessly"
        ("関西人って人の物盗るよな", 1),  # 盗る (MeCab's lemma is 取る, so matched by its surface)
        ("この店の親父汚れとるやん", 0),  # …とる is not 盗る
        ("九州の人って信号守らない", 1),  # group_virtue 信号
        ("その頭で今まで生きてこれたの", 1),  # その頭で + any verb
        ("脳みそ入ってんの？", 1),  # (お前脳みそ… is read お+前脳+みそ by MeCab)
        ("頭の中お花畑かよ", 1),
        ("うわ、必死すぎ", 1),
        ("俺必死すぎて笑う", 0),  # insult category: the writer's own
        ("いい歳してそれはない", 1),
        ("せいぜい夜道に気ぃつけや", 1),
        ("ぶっころ", 1),
        ("住所わかったし凸るか", 1),
        ("馬鹿力で瓶のふた開けた", 0),  # not_in 馬鹿力
        ("ブスッと針が刺さった", 0),  # ブス is a noun; ブスッ an adverb
        ("近所のおばあちゃんに野菜もらった", 0),  # ばばあ's folded key ばあ inside おばあちゃん
        ("「きもい」ってDMが来た", 0),  # reported speech: 「…」って + DM
        ("民度の低い\n韓国人の友達に謝る", 0),  # an attributive term never reaches across a line break
        ("あいつは恥ずかしい", 0),  # addressed_contempt after a person word that is not お前/てめえ/貴様
    ],
)
def test_v9_entries_and_rules(analyser, tok, text, flagged):
    assert score(analyser, tok, text).values["flagged"] == flagged


# --- lexicon v11 (sentences written for these tests) -----------------------------------------------------
@pytest.mark.parametrize(
    "text, flagged",
    [
        ("お前を刺すぞ", 1),
        ("お前が指してるのはどれのこと", 0),  # 指す shares 刺す's unidic lemma; 刺す is match: spelling
        ("俺は陰キャやから飲み会は無理", 0),  # a harassment noun the writer says of themselves
        ("お前は陰キャやろ", 1),
        ("童貞ワイ、今日も元気", 0),  # the noun describes ワイ right after it (unidic: the letter Y)
        ("ワイはロリコンちゃうで", 0),  # a sexual noun said of oneself
        ("お前ロリコンやろ", 1),
        ("うちの旦那、口だけは一丁前のカス", 1),  # first person + の + a person: said of them
        ("俺のアホ、傘忘れた", 0),  # first person + の + no person: still the writer's own
        ("人のこと馬鹿にするなよ", 0),  # に + する: to make light of someone
        ("ガキの頃はよく遊んだ", 0),  # の + a time of someone's life
        ("このガキ黙ってろ", 1),
        ("池沼言わないで", 0),  # the word glued to 言う: talked about
        ("非国民呼ばわりされた", 0),  # + 呼ばわり: reported
        ("お前は池沼", 1),
        ("お前うぜぇな", 1),  # a spoken form of うざい (ai → ee), made by the variant machinery
        ("うざっ", 1),  # … cut short by っ
        ("俺ほんまキモいな", 0),  # a harassment adjective said of oneself
        ("お前キモいな", 1),
        ("こんな問題、猿でもわかるぞ", 1),  # でも + わかる: even the animal could
        ("猿でも飼ってみたい", 0),
        ("お前と比べたらゴキブリがかわいそう", 1),  # ゴキブリ: a compared entry
        ("台所にゴキブリが出た", 0),
    ],
)
def test_v11_rules(analyser, tok, text, flagged):
    assert score(analyser, tok, text).values["flagged"] == flagged
