"""Dependency trees in CoNLL-U: reading, writing back byte for byte, predictions, and malformed input."""
import re

import conllu
import pytest

from structkd.data import TreeSentence, read_conllu_trees, write_conllu_trees
from test_data import DATA, SHARED, raises_at, write_file

SAMPLE = DATA / "ud_en_ewt-ud-test.sample.conllu"
EWT = SHARED / "UD_English-EWT"

# line 1-2: comments, 3: a multiword token, 4-10: words 1-7; 12-13: comments, 14-16: words 1-3,
# 17: an empty node, 18-19: words 4-5
TREES = """# sent_id = s1
# text = Don't go to New York.
1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_
1\tDo\tdo\tAUX\tVBP\t_\t3\taux\t3:aux\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t3:advmod\t_
3\tgo\tgo\tVERB\tVB\t_\t0\troot\t0:root\t_
4\tto\tto\tADP\tIN\t_\t6\tcase\t6:case\t_
5\tNew\tNew\tPROPN\tNNP\t_\t6\tcompound\t6:compound\t_
6\tYork\tYork\tPROPN\tNNP\t_\t3\tobl\t3:obl:to\tSpaceAfter=No
7\t.\t.\tPUNCT\t.\t_\t3\tpunct\t3:punct\t_

# sent_id = s2
# text = Sue came and left.
1\tSue\tSue\tPROPN\tNNP\t_\t2\tnsubj\t2:nsubj|3.1:nsubj\t_
2\tcame\tcome\tVERB\tVBD\t_\t0\troot\t0:root\t_
3\tand\tand\tCCONJ\tCC\t_\t4\tcc\t3.1:cc\t_
3.1\tleft\tleave\tVERB\tVBD\t_\t_\t_\t2:conj:and\tCopyOf=4
4\tleft\tleave\tVERB\tVBD\t_\t2\tconj\t2:conj:and\tSpaceAfter=No
5\t.\t.\tPUNCT\t.\t_\t2\tpunct\t2:punct\t_

"""


def is_word_line(line):
    return bool(re.match(r"\d+\t", line))


def test_sample_round_trips_byte_for_byte_and_agrees_with_conllu(tmp_path):
    sentences = read_conllu_trees(SAMPLE)
    write_conllu_trees(tmp_path / "out.conllu", sentences)
    assert (tmp_path / "out.conllu").read_bytes() == SAMPLE.read_bytes()
    parsed = conllu.parse(SAMPLE.read_text(encoding="utf-8"))
    assert len(sentences) == len(parsed) == 100
    for sentence, tokens in zip(sentences, parsed):
        words = [token for token in tokens if isinstance(token["id"], int)]
        assert sentence.words == [token["form"] for token in words]
        assert sentence.heads == [token["head"] for token in words]
        assert sentence.rels == [token["deprel"] for token in words]
        assert sentence.path == str(SAMPLE)


@pytest.mark.parametrize("split, sentences, words", [
    ("train", 12544, 204577), ("dev", 2001, 25147), ("test", 2077, 25094)])
def test_full_ewt_files_are_single_rooted_trees_and_round_trip(tmp_path, split, sentences, words):
    path = EWT / f"en_ewt-ud-{split}.conllu"
    if not path.exists():
        pytest.skip(f"{path} not present")
    trees = read_conllu_trees(path)
    assert (len(trees), sum(len(tree.words) for tree in trees)) == (sentences, words)
    write_conllu_trees(tmp_path / "out.conllu", trees)
    assert (tmp_path / "out.conllu").read_bytes() == path.read_bytes()


def test_the_fields_of_a_tree(tmp_path):
    path = write_file(tmp_path, TREES, "trees.conllu")
    first, second = read_conllu_trees(path)
    assert first.words == ["Do", "n't", "go", "to", "New", "York", "."]
    assert first.heads == [3, 3, 0, 6, 6, 3, 3]
    assert first.rels == ["aux", "advmod", "root", "case", "compound", "obl", "punct"]
    assert first.lines == TREES.split("\n")[:10]
    assert (first.path, first.line, second.line) == (str(path), 1, 12)
    assert second.words == ["Sue", "came", "and", "left", "."] and second.heads == [2, 0, 4, 2, 2]
    assert second.lines[5].startswith("3.1\tleft") and isinstance(second, TreeSentence)


@pytest.mark.parametrize("heads, rels", [(True, True), (True, False), (False, True)])
def test_predictions_replace_only_head_and_deprel(tmp_path, heads, rels):
    sentences = read_conllu_trees(SAMPLE)
    new_heads = [[0] + [1] * (len(sentence.words) - 1) for sentence in sentences]
    new_rels = [["dep"] * len(sentence.words) for sentence in sentences]
    out = tmp_path / "predicted.conllu"
    write_conllu_trees(out, sentences, new_heads if heads else None, new_rels if rels else None)
    old_lines, new_lines = SAMPLE.read_text().split("\n"), out.read_text().split("\n")
    assert len(old_lines) == len(new_lines)
    predicted = iter(zip(sum(new_heads, []), sum(new_rels, [])))
    for old, new in zip(old_lines, new_lines):
        if is_word_line(old):
            head, rel = next(predicted)
            old_fields, new_fields = old.split("\t"), new.split("\t")
            assert new_fields == old_fields[:6] + [str(head) if heads else old_fields[6],
                                                   rel if rels else old_fields[7]] + old_fields[8:]
        else:
            assert new == old  # comments, multiword tokens, empty nodes, blank lines
    assert next(predicted, None) is None
    again = read_conllu_trees(out)
    assert [tree.heads for tree in again] == (new_heads if heads else [tree.heads for tree in sentences])
    assert [tree.rels for tree in again] == (new_rels if rels else [tree.rels for tree in sentences])


def test_predictions_keep_multiword_tokens_and_empty_nodes(tmp_path):
    sentences = read_conllu_trees(write_file(tmp_path, TREES, "trees.conllu"))
    write_conllu_trees(tmp_path / "out.conllu", sentences, [[3, 3, 0, 6, 6, 3, 3], [2, 0, 4, 2, 4]],
                       [["a"] * 7, ["b"] * 5])
    lines = (tmp_path / "out.conllu").read_text().split("\n")
    assert lines[2] == "1-2\tDon't\t_\t_\t_\t_\t_\t_\t_\t_"
    assert lines[16] == "3.1\tleft\tleave\tVERB\tVBD\t_\t_\t_\t2:conj:and\tCopyOf=4"
    assert lines[18] == "5\t.\t.\tPUNCT\t.\t_\t4\tb\t2:punct\t_"


@pytest.mark.parametrize("heads, rels, message", [
    ([[0] * 7], None, "1 sequences of predicted heads for 2 sentences"),
    (None, [["a"] * 7, ["b"] * 4], ":12: 4 predicted relations for 5 words"),
    ([[3, 3, 0, 6, 6, 3, 8], [2, 0, 4, 2, 2]], None, ":1: predicted head 8 of word 7; expected 0"),
])
def test_predictions_must_fit_the_sentences(tmp_path, heads, rels, message):
    sentences = read_conllu_trees(write_file(tmp_path, TREES, "trees.conllu"))
    with pytest.raises(ValueError, match=message):
        write_conllu_trees(tmp_path / "out.conllu", sentences, heads, rels)


@pytest.mark.parametrize("old, new, line, message", [
    ("\t6\tcase", "\tsix\tcase", 7, "bad HEAD 'six'"),
    ("\t6\tcase", "\t-1\tcase", 7, "HEAD '-1' of 4 'to'; expected 0 \\(the root\\) or a word ID from 1 to 7"),
    ("\t6\tcase", "\t_\tcase", 7, "HEAD '_' of 4 'to'; expected 0"),
    ("\t6\tcase", "\t8\tcase", 7, "HEAD '8' of 4 'to' points past the sentence; expected 0 \\(the root\\) or a "
     "word ID from 1 to 7"),
    ("\t2\tconj", "\t6\tconj", 18, "HEAD '6' of 4 'left' points past the sentence; expected .* from 1 to 5"),
    ("\t6\tcase", "\t4\tcase", 7, "a cycle: 4 'to' -> 4 'to'; expected heads that lead every word to the root"),
    ("\t3\tobl", "\t5\tobl", 8, "a cycle: 5 'New' -> 6 'York' -> 5 'New'; expected"),
    ("\t3\tobl", "\t0\tobl", 9, "2 words attached to the root \\(HEAD 0\\): 3 'go', 6 'York'; expected one"),
    ("\t0\troot\t0:root\t_\n4", "\t2\troot\t0:root\t_\n4", 4, "no word attached to the root \\(HEAD 0\\); "
     "expected one"),
    ("4\tto", "4x\tto", 7, "bad ID '4x'"),
    ("4\tto", "5\tto", 7, "word ID '5' out of order; expected 4 \\(word IDs count 1, 2, 3, ... in each sentence\\)"),
    ("1\tSue", "0\tSue", 14, "word ID '0' out of order; expected 1"),
    ("\t3:punct\t_", "\t3:punct", 10, "9 tab-separated columns; expected 10 \\(CoNLL-U\\)"),
    ("\t3:punct\t_", "\t3:punct\t_\t_", 10, "11 tab-separated columns; expected 10 \\(CoNLL-U\\)"),
    ("5\t.\t.\tPUNCT\t.\t_\t2\tpunct\t2:punct\t_", "5 . . PUNCT . _ 2 punct 2:punct _", 19,
     "1 tab-separated columns; expected 10"),
])
def test_malformed_trees(tmp_path, old, new, line, message):
    assert old in TREES
    path = write_file(tmp_path, TREES.replace(old, new, 1), "bad.conllu")
    with raises_at(path, line, message):
        read_conllu_trees(path)


def test_several_roots_can_be_allowed(tmp_path):
    path = write_file(tmp_path, TREES.replace("\t3\tobl", "\t0\tobl", 1), "roots.conllu")
    assert read_conllu_trees(path, require_single_root=False)[0].heads == [3, 3, 0, 6, 6, 0, 3]
    path = write_file(tmp_path, TREES.replace("\t0\troot\t0:root\t_\n4", "\t2\troot\t0:root\t_\n4", 1), "none.conllu")
    with raises_at(path, 4, "no word attached to the root"):
        read_conllu_trees(path, require_single_root=False)


@pytest.mark.parametrize("content, line, message", [
    (b"", 1, "no sentence in 0 line\\(s\\)"),
    (b"# sent_id = s\n\n", 2, "no sentence in 2 line\\(s\\)"),
    (TREES.replace("1\tSue", "1\tS\udcffue", 1).encode("utf-8", "surrogateescape"), 14,
     "not UTF-8: byte 0xff at byte 4 of the line"),
    (TREES.split("4\tto")[0] + "\n# sent_id = s2\n3.1\tleft\t_\t_\t_\t_\t_\t_\t_\t_\n", 8,
     "a sentence without words; expected word lines with integer IDs"),
], ids=["empty", "comments only", "not UTF-8", "no words"])
def test_empty_and_undecodable_files(tmp_path, content, line, message):
    path = write_file(tmp_path, content, "bad.conllu")
    with raises_at(path, line, message):
        read_conllu_trees(path)
