"""The Swedish language layer: words with offsets, lemma + stem normal forms, data-driven compound splitting."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.swedish import Analyzer, CompoundSplitter, corpus_vocabulary


@pytest.fixture(scope="module")
def sv() -> Analyzer:
    return Analyzer.default()


def expansion(sv: Analyzer, word: str) -> list[tuple[str, str, int]]:
    return [(t.term, t.piece, t.depth) for w in sv.words(word) for t in sv.expand(w.lower)]


@pytest.mark.parametrize("word, expected", [
    # the examples: the query word splits into hyr + sjuksköterskor, and further into sjuk + sköterskor
    ("hyrsjuksköterskor", [("hyrsjukskötersk", "hyrsjuksköterskor", 0), ("hyr", "hyr", 1),
                           ("sjukskötersk", "sjuksköterskor", 1), ("sjuk", "sjuk", 2),
                           ("skötersk", "sköterskor", 2)]),
    ("inhyrd", [("inhyrd", "inhyrd", 0), ("hyr", "hyrd", 1)]),  # particle + participle of hyra
    ("hyrsköterskor", [("hyrskötersk", "hyrsköterskor", 0), ("hyr", "hyr", 1), ("skötersk", "sköterskor", 1)]),
    # a dropped -a and linking e: sjuksköterska + bemanningen
    ("sjuksköterskebemanningen", [("sjuksköterskebemanning", "sjuksköterskebemanningen", 0),
                                  ("sjukskötersk", "sjuksköterske", 1), ("sjuk", "sjuk", 2),
                                  ("skötersk", "sköterske", 2), ("bemanning", "bemanningen", 1)]),
    ("välfärdsbrott", [("välfärdsbrot", "välfärdsbrott", 0), ("välfärd", "välfärds", 1), ("väl", "väl", 2),
                       ("färd", "färds", 2), ("brott", "brott", 1)]),
    # inflections reach the same parts
    ("sjukvård", [("sjukvård", "sjukvård", 0), ("sjuk", "sjuk", 1), ("vård", "vård", 1)]),
    ("sjukvården", [("sjukvård", "sjukvården", 0), ("sjuk", "sjuk", 1), ("vård", "vården", 1)]),
    # known words are not cut into nonsense
    ("verksamhet", [("verksam", "verksamhet", 0)]),
    ("kommunen", [("kommun", "kommunen", 0)]),
    ("sköterskor", [("skötersk", "sköterskor", 0)]),
    ("omsorg", [("omsorg", "omsorg", 0)]),
    # lemma table gap repaired by the stem: minska -> "minsk" (table), minskad -> minska -> "minsk"
    ("minska", [("minsk", "minska", 0)]),
    ("minskad", [("minsk", "minskad", 0)]),
    ("LSS-verksamhet", [("lssverksam", "lss-verksamhet", 0), ("lss", "lss", 1), ("verksam", "verksamhet", 1)]),
    ("2030", [("2030", "2030", 0)]),
    ("och", []),  # stopword
    ("bl.a.", []),  # abbreviation
])
def test_expansion(sv, word, expected):
    assert expansion(sv, word) == expected


@pytest.mark.parametrize("query, expected", [
    ("Hyrsjuksköterskor", ["hyrsjukskötersk", "hyr", "sjukskötersk"]),  # queries keep one level of parts
    ("minska sjukfrånvaron", ["minsk", "sjukfrånvaro", "frånvaro", "sjuk"]),
    ("och att som", []),  # only stopwords
    ("", []),
    ("!!! ??? ...", []),
    ("<script>alert(1)</script>", ["alert"]),  # markup is not text
    ("'; DROP TABLE passages; --", ["drop", "passag", "tabl"]),
])
def test_query_terms(sv, query, expected):
    assert [t.term for t in sv.query_terms(query)] == expected


def test_query_terms_weights_by_depth(sv):
    weights = {t.term: t.weight for t in sv.query_terms("hyrsjuksköterskor")}
    assert weights == {"hyrsjukskötersk": 1.0, "hyr": 0.5, "sjukskötersk": 0.5}


def test_query_term_keeps_shallowest_depth(sv):
    # "sjuksköterskor" is a word of its own here, so it counts at depth 0 even though it is also a part
    terms = {t.term: t.depth for t in sv.query_terms("hyrsjuksköterskor sjuksköterskor")}
    assert terms["sjukskötersk"] == 0 and terms["hyr"] == 1


def test_words_offsets_point_into_original_text(sv):
    text = "Kostnaden för <b>inhyrd</b> personal, t.ex. hyrsköterskor (LSS) 2024."
    words = sv.words(text)
    assert [w.text for w in words] == ["Kostnaden", "för", "inhyrd", "personal", "t.ex", "hyrsköterskor", "LSS",
                                     "2024"]
    assert all(text[w.start:w.end] == w.text for w in words)


@pytest.mark.parametrize("text", ["a" * 10_000, "hyrsjuksköterskor " * 600, "å" * 41])
def test_long_input_is_cheap_and_not_split(sv, text):
    terms = sv.query_terms(text)
    assert len(terms) <= 5
    assert all(len(t.term) <= 10_000 for t in terms)


# -- the splitter with injected vocabularies (no lexicon needed) ----------------------------------------------------
@pytest.mark.parametrize("vocabulary, word, expected", [
    ({"hyr", "sjuksköterskor"}, "hyrsjuksköterskor", (("hyr", "hyr"), ("sjuksköterskor", "sjuksköterskor"))),
    ({"sjuksköterska", "bemanningen"}, "sjuksköterskebemanningen",
     (("sjukskötersk", "sjuksköterska"), ("bemanningen", "bemanningen"))),
    ({"välfärd", "brott"}, "välfärdsbrott", (("välfärd", "välfärd"), ("brott", "brott"))),
    ({"kyrka", "gård"}, "kyrkogård", (("kyrk", "kyrka"), ("gård", "gård"))),
    # fewest parts wins over more, shorter ones
    ({"läkemedel", "läk", "medel", "automater"}, "läkemedelsautomater",
     (("läkemedel", "läkemedel"), ("automater", "automater"))),
    ({"hyr"}, "hyrsjuksköterskor", ()),  # the rest is unknown: no split
    ({"ab", "cd"}, "abcd", ()),  # parts shorter than 3 letters
])
def test_splitter_with_injected_vocabulary(vocabulary, word, expected):
    splitter = CompoundSplitter(vocabulary, lexicon=vocabulary, stop=frozenset())
    assert splitter.split(word) == expected


def test_splitter_known_word_needs_a_real_last_part():
    vocab = {"verksam", "het", "verksamhet", "sjuk", "vård", "sjukvård"}
    splitter = CompoundSplitter(vocab, lexicon=vocab, stop=frozenset())
    assert splitter.split("verksamhet") == ()  # known word, 3-letter last part: left alone
    assert splitter.split("sjukvård") == (("sjuk", "sjuk"), ("vård", "vård"))


def test_splitter_particle_only_for_words_the_lexicon_lacks():
    vocab = {"hyrd", "sorg", "omsorg"}
    splitter = CompoundSplitter(vocab, lexicon=vocab, stop=frozenset({"in", "om"}))
    assert splitter.split("inhyrd") == (("in", "in"), ("hyrd", "hyrd"))
    assert splitter.split("omsorg") == ()


def test_corpus_vocabulary_keeps_repeated_new_words_only():
    words = ["hudiksvallsmodellen", "hudiksvallsmodellen", "engångsord", "och", "kommun", "kommun", "abc", "abc"]
    assert corpus_vocabulary(words) == ["hudiksvallsmodellen"]


def test_corpus_vocabulary_lets_local_words_be_parts():
    plain = Analyzer.default()
    local = Analyzer.default(["hudiksvall"])
    assert [t.term for t in plain.query_terms("hudiksvallsmodellen")] == ["hudiksvallsmodell"]
    assert [t.term for t in local.query_terms("hudiksvallsmodellen")] == ["hudiksvallsmodell", "hudiksvall",
                                                                          "modell"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200))
def test_any_text_analyses_without_error(text):
    sv = Analyzer.default()
    words = sv.words(text)
    assert all(text[w.start:w.end] == w.text for w in words)
    assert all(isinstance(t, str) and t for t in sv.tokens(text))


def test_plain_words_are_split_on_white_space_exactly_as_spacy_splits_them():
    """The shortcut that keeps spaCy out of everyday queries must give spaCy's tokens: every alphabetic word of the
    lemma table, 20,000 to a line, with spaCy's tokenizer and with the shortcut."""
    from nlp import swedish

    lex = swedish._build_lexicon()
    words = sorted({w for w in (*lex.lemmas, *lex.lemmas.values()) if w.isalpha()})
    tokenizer = swedish._tokenizer()
    differ = []
    for i in range(0, len(words), 20_000):
        text = "  ".join(words[i:i + 20_000]) + "\n"
        if [(t.text, t.idx) for t in tokenizer(text) if not t.is_space] != list(swedish._spacy_tokens(text)):
            differ += [w for w in words[i:i + 20_000] if [t.text for t in tokenizer(w)] != [w]]
    assert (len(words), differ) == (738727, [])


def test_the_lexicon_file_answers_as_the_tables_it_was_built_from(tmp_path):
    from nlp import swedish

    built = swedish._build_lexicon()
    path = tmp_path / "lexicon-sv.sqlite"
    swedish._write_lexicon(built, path, swedish._lexicon_source())
    disk = swedish._open_lexicon(path, swedish._lexicon_source())
    assert (len(built.lemmas), len(built.vocabulary), len(built.stop)) == (660305, 742641, 386)
    assert disk.stop == built.stop
    assert [k for k, v in built.lemmas.items() if disk.lemmas.get(k) != v] == []
    assert [w for w in built.vocabulary if w not in disk.vocabulary] == []
    assert (disk.lemmas.get("xqzplorf", "x"), "xqzplorf" in disk.vocabulary) == ("x", False)
    with pytest.raises(ValueError):
        swedish._open_lexicon(path, swedish._lexicon_source().replace('"format": ', '"format": 9'))
