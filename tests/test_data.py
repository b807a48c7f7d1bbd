"""The NER data layer: tag schemes, column files, CoNLL-U, raw text, and the errors on malformed input."""
import itertools
import random
import re
from pathlib import Path

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from structkd.data import (
    UNER_LABEL_MAP,
    DataError,
    read_columns,
    read_conll2003,
    read_conllu_tags,
    read_text,
    read_uner,
    write_columns,
    write_conll2003,
    write_conllu_tags,
    write_text,
    write_uner,
)
from structkd.schemes import (
    Entity,
    TagSchemeError,
    convert_tags,
    entities_to_tags,
    scheme_name,
    tags_to_entities,
)

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
UNER_SAMPLES = ["uner_en_ewt-ud-train.prerelease.sample.iob2", "uner_en_ewt-ud-dev.sample.iob2",
                "uner_en_ewt-ud-test.sample.iob2"]
SCHEMES = ["IOB1", "BIO", "BIOES"]


def write_file(tmp_path, content, name="input.txt"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def raises_at(path, line, message):
    """Expect a DataError at ``path:line`` whose message then matches the regular expression ``message``."""
    return pytest.raises(DataError, match=f"^{re.escape(str(path))}:{line}: {message}")


def sent_id(sentence):
    return next(line.split(" = ", 1)[1] for line in sentence.comments if line.startswith("# sent_id = "))


def random_entities(rng, length):
    """Random non-overlapping entities of types PER and LOC over ``length`` tokens, adjacent ones included."""
    entities, i = [], 0
    while i < length:
        if rng.random() < 0.4:
            end = min(length, i + rng.randint(1, 3))
            entities.append(Entity(rng.choice(["PER", "LOC"]), i, end))
            i = end
        else:
            i += rng.randint(0, 1) or 1
    return entities


# --- tag schemes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tags, source, target, expected", [
    ("I-PER I-PER B-PER O I-LOC", "IOB1", "BIO", "B-PER I-PER B-PER O B-LOC"),
    ("I-PER I-PER B-PER O I-LOC", "IOB1", "BIOES", "B-PER E-PER S-PER O S-LOC"),
    ("B-PER I-PER B-PER O B-LOC B-ORG", "BIO", "IOB1", "I-PER I-PER B-PER O I-LOC I-ORG"),
    ("B-PER I-PER I-PER O B-LOC", "IOB2", "BIOES", "B-PER I-PER E-PER O S-LOC"),
    ("B-PER E-PER S-PER O S-LOC", "BIOES", "BIO", "B-PER I-PER B-PER O B-LOC"),
    ("O O", "BIOES", "IOB1", "O O"),
    ("", "BIO", "BIOES", ""),
])
def test_convert_tags_examples(tags, source, target, expected):
    assert convert_tags(tags.split(), source, target) == expected.split()


def test_every_scheme_keeps_every_entity():
    rng = random.Random(0)
    for _ in range(300):
        length = rng.randint(0, 9)
        entities = random_entities(rng, length)
        encoded = {scheme: entities_to_tags(entities, length, scheme) for scheme in SCHEMES}
        for source, target in itertools.product(SCHEMES, SCHEMES):
            assert tags_to_entities(encoded[source], source, strict=True) == entities
            assert convert_tags(encoded[source], source, target, strict=True) == encoded[target]
        # seqeval reads the entities of every scheme the same way (its ends are inclusive)
        assert get_entities(encoded["BIOES"]) == [(kind, start, end - 1) for kind, start, end in entities]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_repair_reads_ill_formed_sequences_as_seqeval_does(scheme):
    rng = random.Random(1)
    prefixes = "BIES" if scheme == "BIOES" else "BI"
    vocabulary = ["O"] + [f"{prefix}-{kind}" for prefix in prefixes for kind in ("PER", "LOC")]
    for _ in range(2000):
        tags = [rng.choice(vocabulary) for _ in range(rng.randint(1, 7))]
        expected = [Entity(kind, start, end + 1) for kind, start, end in get_entities(tags)]
        assert tags_to_entities(tags, scheme) == expected, tags


@pytest.mark.parametrize("tags, scheme, index, message", [
    ("O I-PER", "IOB2", 1, "'I-PER' after 'O' does not continue a PER entity; expected B-PER"),
    ("B-LOC I-PER", "BIO", 1, "does not continue a PER entity"),
    ("I-PER", "BIO", 0, "after the sentence start"),
    ("S-PER I-PER E-PER", "BIOES", 1, "expected B-PER"),
    ("O E-PER", "BIOES", 1, "expected S-PER"),
    ("B-PER O", "BIOES", 1, "leaves the PER entity open; expected I-PER or E-PER"),
    ("B-PER I-PER", "BIOES", 1, "the sentence ends inside a PER entity"),
])
def test_strict_refuses_what_repair_would_fix(tags, scheme, index, message):
    with pytest.raises(TagSchemeError, match=message) as error:
        tags_to_entities(tags.split(), scheme, strict=True)
    assert error.value.index == index
    assert tags_to_entities(tags.split(), scheme)  # repaired, not refused


def test_iob1_needs_no_repair():
    assert tags_to_entities(["O", "I-PER", "B-PER", "I-LOC"], "IOB1", strict=True) == [
        Entity("PER", 1, 2), Entity("PER", 2, 3), Entity("LOC", 3, 4)]


@pytest.mark.parametrize("tag, scheme", [("E-PER", "BIO"), ("S-PER", "IOB1"), ("B-O", "BIOES"), ("PER", "BIO"),
                                         ("X-PER", "BIOES"), ("B-", "BIO")])
def test_unknown_tags(tag, scheme):
    with pytest.raises(TagSchemeError, match=f"unknown tag '{tag}'") as error:
        tags_to_entities(["O", tag], scheme)
    assert error.value.index == 1


def test_scheme_names_and_bad_entities():
    assert scheme_name("IOB2") == scheme_name("BIO") == "BIO"
    with pytest.raises(ValueError, match="unknown tag scheme 'BILOU'"):
        scheme_name("BILOU")
    with pytest.raises(ValueError, match="overlaps"):
        entities_to_tags([Entity("PER", 0, 2), Entity("LOC", 1, 3)], 3)
    with pytest.raises(ValueError, match="outside"):
        entities_to_tags([Entity("PER", 2, 4)], 3)


# --- column files ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", UNER_SAMPLES)
def test_uner_samples_round_trip_byte_for_byte(tmp_path, name):
    sentences = read_uner(DATA / name)
    write_uner(tmp_path / name, sentences)
    assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes()


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
@pytest.mark.parametrize("name, sentences, tokens", [("en_ewt-ud-dev.iob2", 2001, 25149),
                                                     ("en_ewt-ud-test.iob2", 2077, 25097),
                                                     ("en_ewt-ud-train.prerelease.iob2", 12543, 204579)])
def test_full_uner_files_read_strictly_and_round_trip(tmp_path, name, sentences, tokens):
    path = SHARED / "UNER_English-EWT" / name
    read = read_uner(path, strict=True)
    assert (len(read), sum(len(sentence.tokens) for sentence in read)) == (sentences, tokens)
    write_uner(tmp_path / name, read)
    assert (tmp_path / name).read_bytes() == path.read_bytes()


def test_uner_sentence_fields():
    sentences = read_uner(DATA / "uner_en_ewt-ud-train.prerelease.sample.iob2")
    first = sentences[0]
    assert len(sentences) == 300
    assert first.comments[0].startswith("# newdoc id = weblog-juancole.com")
    assert first.comments[2].startswith("# text = Al-Zaman : American forces killed Shaikh Abdullah al-Ani")
    assert (first.path, first.line) == (str(DATA / "uner_en_ewt-ud-train.prerelease.sample.iob2"), 1)
    assert first.tokens[:5] == ["Al", "-", "Zaman", ":", "American"]
    # the pre-release leaves misc and annotator off O tokens; OTH and a stray B-O are mapped to O
    assert first.columns[3] == ["4", ":", "O"] and first.columns[4] == ["5", "American", "B-OTH", "-", "stephen"]
    assert first.tags[:5] == ["B-ORG", "I-ORG", "I-ORG", "O", "O"]
    assert first.columns[-1] == ["29", ".", "B-O", "-", "stephen"] and first.tags[-1] == "O"
    assert sentences[1].line == 1 + len(first.comments) + len(first.tokens) + 1


def test_uner_label_map_is_needed_for_the_prerelease():
    path = DATA / "uner_en_ewt-ud-train.prerelease.sample.iob2"
    assert {tag for sentence in read_uner(path) for tag in sentence.tags} == {
        "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"}
    with raises_at(path, 32, "unknown tag 'B-O'"):
        read_uner(path, label_map=None)
    with raises_at(path, 8, "unknown entity type 'OTH' in tag 'B-OTH' .*expected one of PER, ORG, LOC"):
        read_uner(path, label_map={"B-O": "O"})
    assert dict(UNER_LABEL_MAP) == {"B-OTH": "O", "I-OTH": "O", "B-O": "O"}


def test_label_map_comes_before_the_scheme(tmp_path):
    path = write_file(tmp_path, "Ann\tB-PERSON\nLee\tI-PERSON\nsang\tOUT\n")
    sentence, = read_columns(path, token_column=0, tag_column=1,
                             label_map={"B-PERSON": "B-PER", "I-PERSON": "I-PER", "OUT": "O"}, target="BIOES")
    assert sentence.tags == ["B-PER", "E-PER", "O"]
    assert sentence.columns[0] == ["Ann", "B-PERSON"]  # the raw columns stay as read


@pytest.mark.parametrize("name", UNER_SAMPLES)
def test_bioes_target_keeps_the_entities(name):
    bio, bioes = read_uner(DATA / name), read_uner(DATA / name, target="BIOES")
    assert any("E-" in tag for sentence in bioes for tag in sentence.tags)
    for a, b in zip(bio, bioes):
        assert tags_to_entities(a.tags, "BIO", strict=True) == tags_to_entities(b.tags, "BIOES", strict=True)


def test_conll2003_sample():
    sentences = read_conll2003(DATA / "conll2003-style.sample.txt")
    assert [sentence.line for sentence in sentences] == [1, 12, 23]
    assert sentences[0].comments == ["-DOCSTART- -X- -X- O", ""]
    assert sentences[1].comments == []
    assert sentences[2].comments == ["-DOCSTART- -X- -X- O", ""]
    assert sentences[0].tokens == ["Anna", "Berg", "flew", "from", "Oslo", "to", "Lima", "."]
    assert sentences[1].tags == ["O", "O", "B-PER", "I-PER", "B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O"]
    assert sentences[1].columns[4] == ["Elena", "NNP", "I-NP", "B-PER"]


def test_conll2003_round_trip_and_predictions(tmp_path):
    path = DATA / "conll2003-style.sample.txt"
    sentences = read_conll2003(path)
    write_conll2003(tmp_path / "same.txt", sentences)
    assert (tmp_path / "same.txt").read_bytes() == path.read_bytes()
    # predictions in BIO or BIOES are written in the file's IOB1
    write_conll2003(tmp_path / "gold.txt", sentences, [sentence.tags for sentence in sentences])
    assert (tmp_path / "gold.txt").read_bytes() == path.read_bytes()
    bioes = [convert_tags(sentence.tags, "BIO", "BIOES") for sentence in sentences]
    write_conll2003(tmp_path / "bioes.txt", sentences, bioes, scheme="BIOES")
    assert "Carlos NNP B-NP B-PER\nDiaz NNP I-NP E-PER\n" in (tmp_path / "bioes.txt").read_text()


def test_predictions_replace_the_tag_column(tmp_path):
    sentences = read_uner(DATA / "uner_en_ewt-ud-dev.sample.iob2")
    predicted = [["O"] * (len(sentence.tokens) - 1) + ["S-LOC"] for sentence in sentences]
    write_uner(tmp_path / "predicted.iob2", sentences, predicted)
    again = read_uner(tmp_path / "predicted.iob2")
    assert all(sentence.tags == ["O"] * (len(sentence.tokens) - 1) + ["B-LOC"] for sentence in again)
    for old, new in zip(sentences, again):
        assert old.comments == new.comments and old.tokens == new.tokens
        assert [fields[:2] + fields[3:] for fields in old.columns] == [
            fields[:2] + fields[3:] for fields in new.columns]


def test_predictions_are_appended_without_a_tag_column(tmp_path):
    sentences = read_text(DATA / "atis.sample.txt")[:2]
    predicted = [["O"] * len(sentence.tokens) for sentence in sentences]
    predicted[0][7] = predicted[0][9] = "B-LOC"  # pittsburgh, atlanta
    write_columns(tmp_path / "out.tsv", sentences, predicted)
    lines = (tmp_path / "out.tsv").read_text().split("\n")
    assert lines[:2] == ["i\tO", "would\tO"] and lines[7] == "pittsburgh\tB-LOC"
    assert [s.tags for s in read_columns(tmp_path / "out.tsv", token_column=0, tag_column=1)] == predicted


def test_predictions_must_fit_the_sentences(tmp_path):
    sentences = read_conll2003(DATA / "conll2003-style.sample.txt")
    with pytest.raises(ValueError, match="2 predicted tag sequences for 3 sentences"):
        write_conll2003(tmp_path / "out.txt", sentences, [sentence.tags for sentence in sentences[:2]])
    with pytest.raises(ValueError, match=r"conll2003-style.sample.txt:1: 1 predicted tags for 8 tokens"):
        write_conll2003(tmp_path / "out.txt", sentences, [["O"]] + [sentence.tags for sentence in sentences[1:]])


def test_extra_blank_lines_crlf_and_byte_order_mark(tmp_path):
    content = "\n\n# a\n1\tx\tO\n\n\n\n# b\n\n# c\n1\ty\tB-PER\n2\tz\tI-PER\n\n"
    path = write_file(tmp_path, content)
    sentences = read_columns(path, token_column=1, tag_column=2)
    assert [(sentence.line, sentence.comments) for sentence in sentences] == [
        (1, ["", "", "# a"]), (6, ["", "", "# b", "", "# c"])]
    write_columns(tmp_path / "out.txt", sentences, tag_column=2)
    assert (tmp_path / "out.txt").read_text() == content
    for variant in [content.replace("\n", "\r\n"), "\ufeff" + content]:
        read = read_columns(write_file(tmp_path, variant, "variant.txt"), token_column=1, tag_column=2)
        assert [(s.tokens, s.tags, s.columns, s.comments) for s in read] == [
            (s.tokens, s.tags, s.columns, s.comments) for s in sentences]


def test_a_last_sentence_without_a_blank_line(tmp_path):
    sentences = read_conll2003(write_file(tmp_path, "a O\n\nb I-PER\nc I-PER"))
    assert [sentence.tags for sentence in sentences] == [["O"], ["B-PER", "I-PER"]]
    write_conll2003(tmp_path / "out.txt", sentences)
    assert (tmp_path / "out.txt").read_text() == "a O\n\nb I-PER\nc I-PER\n\n"


@pytest.mark.parametrize("content, options, line, message", [
    ("1\ta\tO\n2\tb\tO\n\n1\tc\tO\textra\n", {}, 4, "4 columns; expected 3 like the first token line \\(line 1\\)"),
    ("1\ta\tO\tx\n2\tb\n", {"ragged": True}, 2, "2 columns; expected at least 3"),
    ("# c\n1\ta\tO\n2\tb\tI-PER\n", {"strict": True}, 3,
     "'I-PER' after 'O' does not continue a PER entity; expected B-PER to start one"),
    ("1\ta\tO\n2\tb\tE-PER\n", {}, 2, "unknown tag 'E-PER'; expected 'O' or one of B-, I- and an entity type"),
    ("1\ta\tB-PER\n\n1\tb\tB-MISC\n", {"entity_types": ("PER", "LOC")}, 3,
     "unknown entity type 'MISC' in tag 'B-MISC' \\(after label mapping\\); expected one of PER, LOC"),
    ("1\ta\tB-PER\n", {"label_map": {"B-PER": "PER"}}, 1, "unknown tag 'PER'"),
    ("1\ta\tO\n2.\tb\tO\n", {"id_column": 0}, 2, "token id '2.' in column 0; expected 2 \\(token ids count"),
    ("1\t\tO\n", {}, 1, "empty token in column 1; expected a word form"),
    ("", {}, 1, "no sentence in 0 line\\(s\\); expected token lines"),
    ("# only a comment\n\n \n", {}, 3, "no sentence in 3 line\\(s\\)"),
    (b"1\ta\tO\n\n1\tcaf\xe9\tO\n", {}, 3, "not UTF-8: byte 0xe9 at byte 6 of the line; expected a UTF-8 text file"),
])
def test_malformed_column_files(tmp_path, content, options, line, message):
    path = write_file(tmp_path, content)
    with raises_at(path, line, message) as error:
        read_columns(path, token_column=1, tag_column=2, **options)
    assert (error.value.path, error.value.line) == (str(path), line)
    assert isinstance(error.value, ValueError)


def test_uner_checks_token_ids(tmp_path):
    path = write_file(tmp_path, "1\ta\tO\t-\t-\nx\tb\tO\n")
    with raises_at(path, 2, "token id 'x' in column 0; expected 2"):
        read_uner(path)


def test_target_must_be_a_decoding_scheme(tmp_path):
    with pytest.raises(ValueError, match="expected BIO or BIOES"):
        read_columns(write_file(tmp_path, "a O\n"), token_column=0, tag_column=1, delimiter=None, target="IOB1")


# --- CoNLL-U ----------------------------------------------------------------------------------------------

def test_conllu_sample_matches_the_uner_tokens():
    conllu = read_conllu_tags(DATA / "ud_en_ewt-ud-test.sample.conllu", None)
    words = {sent_id(sentence): sentence for sentence in conllu}
    uner = read_uner(DATA / "uner_en_ewt-ud-test.sample.iob2")
    assert len(words) == len(uner) == 100
    differ = [sent_id(sentence) for sentence in uner if words[sent_id(sentence)].tokens != sentence.tokens]
    assert differ == ["answers-20111106103415AAqdokn_ans-0005"]  # UNER has "Fudrucker s", UD "Fudruckers"
    assert all(sentence.tags is None for sentence in words.values())


def test_conllu_skips_multiword_tokens_and_empty_nodes():
    path = DATA / "ud_en_ewt-ud-test.sample.conllu"
    lines = path.read_text().split("\n")
    sentences = read_conllu_tags(path, None)
    word_lines = [line for line in lines if line and line.split("\t")[0].isdigit()]
    assert [fields for sentence in sentences for fields in sentence.columns] == [
        line.split("\t") for line in word_lines]
    multiword = sum(bool(re.match(r"\d+-\d+\t", line)) for line in lines)
    empty_nodes = sum(bool(re.match(r"\d+\.\d+\t", line)) for line in lines)
    assert (multiword, empty_nodes) == (30, 1)
    assert sum(len(sentence.tokens) for sentence in sentences) == len(word_lines)
    assert sum(len(sentence.comments) for sentence in sentences) == sum(line.startswith("#") for line in lines)


CONLLU = """# sent_id = s1
# text = Don't go to New York.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t_\tNER=O
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\tNER=O
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\tNER=O
3.1\tgo\tgo\tVERB\tVB\t_\t_\t_\t3:conj\t_
4\tto\tto\tADP\tIN\t_\t6\tcase\t_\tNER=O
5\tNew\tNew\tPROPN\tNNP\t_\t6\tcompound\t_\tNER=B-LOC
6\tYork\tYork\tPROPN\tNNP\t_\t3\tobl\t_\tNER=I-LOC|SpaceAfter=No
7\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\tNER=O

"""


def test_conllu_tags_from_misc_or_a_function(tmp_path):
    path = write_file(tmp_path, CONLLU, "s.conllu")
    sentence, = read_conllu_tags(path, target="BIOES")
    assert sentence.tokens == ["Do", "n't", "go", "to", "New", "York", "."]
    assert sentence.tags == ["O", "O", "O", "O", "B-LOC", "E-LOC", "O"]
    assert sentence.comments == ["# sent_id = s1", "# text = Don't go to New York."]
    assert (sentence.line, sentence.columns[0][:2]) == (1, ["1", "Do"])
    by_upos, = read_conllu_tags(path, lambda token: "B-NAME" if token["upos"] == "PROPN" else "O")
    assert by_upos.tags == ["O", "O", "O", "O", "B-NAME", "B-NAME", "O"]


def test_conllu_tags_write_back_into_misc_keeping_every_other_line_and_item(tmp_path):
    second = CONLLU.replace("s1", "s2").replace("\tNER=O\n3.1", "\t_\n3.1")  # word 3 of s2 has MISC "_"
    source = CONLLU + second
    sentences = read_conllu_tags(write_file(tmp_path, source, "s.conllu"), tag_field=None)
    out = tmp_path / "out.conllu"
    write_conllu_tags(out, sentences[:1], [["O", "O", "O", "O", "B-LOC", "I-LOC", "O"]])
    assert out.read_text() == CONLLU  # the gold tags back: the file, byte for byte
    predicted = [["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"], ["O", "O", "B-ORG", "O", "O", "O", "O"]]
    write_conllu_tags(out, sentences, predicted, scheme="BIOES")
    expected = source
    for old, new in [("\tNER=O\n2\t", "\tNER=B-PER\n2\t"), ("\tNER=O\n3\t", "\tNER=E-PER\n3\t"),
                     ("NER=I-LOC|", "NER=E-LOC|")]:  # sentence 1 (the multiword token and empty node kept)
        expected = expected.replace(old, new, 1)
    s2 = expected.index("# sent_id = s2")
    tail = expected[s2:].replace("\t_\n3.1", "\tNER=S-ORG\n3.1").replace("NER=B-LOC", "NER=O")
    assert out.read_text() == expected[:s2] + tail.replace("NER=I-LOC|", "NER=O|")
    with pytest.raises(ValueError, match="6 predicted tags for 7 words"):
        write_conllu_tags(out, sentences[:1], [["O"] * 6])


@pytest.mark.parametrize("old, new, options, line, message", [
    ("5\tNew\tNew\tPROPN\tNNP\t_\t6\tcompound\t_\tNER=B-LOC", "5\tNew\tNew\tPROPN\tNNP\t_\t6\tcompound\t_\tNER=I-LOC",
     {"strict": True}, 9, "'I-LOC' after 'O' does not continue a LOC entity"),
    ("NER=I-LOC|", "", {}, 10, "no tag for 'York' from tag_field 'misc:NER'; expected one on every word"),
    ("4\tto", "4x\tto", {}, 8, "bad ID '4x' \\('4x' is not a valid ID.\\); expected a CoNLL-U ID value"),
    ("\t6\tcase", "\tsix\tcase", {}, 8, "bad HEAD 'six'"),
    ("4\tto", "_\tto", {}, 8, "ID '_'; expected a word index"),
    ("\tNER=O\n3.1", "\n3.1", {}, 6, "9 tab-separated columns; expected 10 \\(CoNLL-U\\)"),
    ("7\t.", "# late comment\n7\t.", {}, 11, "1 tab-separated columns"),
    ("NER=B-LOC", "NER=B-OTH", {"entity_types": ("LOC",)}, 9, "unknown entity type 'OTH'"),
])
def test_malformed_conllu(tmp_path, old, new, options, line, message):
    assert old in CONLLU
    path = write_file(tmp_path, CONLLU.replace(old, new, 1), "bad.conllu")
    with raises_at(path, line, message):
        read_conllu_tags(path, **options)


def test_conllu_without_words_or_content(tmp_path):
    path = write_file(tmp_path, "# sent_id = s\n1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_\n", "mwt.conllu")
    with raises_at(path, 1, "a sentence without words"):
        read_conllu_tags(path)
    path = write_file(tmp_path, "\n", "empty.conllu")
    with raises_at(path, 1, "no sentence"):
        read_conllu_tags(path)
    with pytest.raises(ValueError, match="expected 'misc:KEY'"):
        read_conllu_tags(path, "upos")


# --- raw text ---------------------------------------------------------------------------------------------

def test_atis_sample_reads_and_writes_back(tmp_path):
    sentences = read_text(DATA / "atis.sample.txt")
    assert len(sentences) == 100 and [sentence.line for sentence in sentences] == list(range(1, 101))
    assert sentences[0].tokens[:4] == ["i", "would", "like", "the"]
    assert sentences[0].tags is None and sentences[0].columns[0] == ["i"]
    write_text(tmp_path / "out.txt", sentences)
    assert (tmp_path / "out.txt").read_bytes() == (DATA / "atis.sample.txt").read_bytes()


def test_raw_text_skips_blank_lines_and_splits_at_whitespace(tmp_path):
    path = write_file(tmp_path, "\n  New\tYork  is big \n\n\nok\n")
    assert [(sentence.line, sentence.tokens) for sentence in read_text(path)] == [
        (2, ["New", "York", "is", "big"]), (5, ["ok"])]
    blank = write_file(tmp_path, " \n\n", "blank.txt")
    with raises_at(blank, 1, "no sentence"):
        read_text(blank)
    latin = write_file(tmp_path, b"ok\n\xff\n", "latin.txt")
    with raises_at(latin, 2, "not UTF-8: byte 0xff at byte 1 of the line"):
        read_text(latin)


def test_write_text_refuses_tokens_with_whitespace(tmp_path):
    sentence, = read_columns(write_file(tmp_path, "New York\tB-LOC\n"), token_column=0, tag_column=1)
    with pytest.raises(ValueError, match="token 'New York' is empty or holds whitespace"):
        write_text(tmp_path / "out.txt", [sentence])
