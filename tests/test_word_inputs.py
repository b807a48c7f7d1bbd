"""The BiLSTM's word inputs: pretrained vectors read offline, a vocabulary over the transfer text, word dropout."""
import json

import numpy as np
import pytest
import torch

from structkd.encoders import BiLSTMEncoder, build_encoder
from structkd.encoders.vectors import glove_table, glove_vectors, pretrained_vectors, pretrained_vocabulary

TRAIN = [["John", "lives", "in", "Paris", "."], ["Hi", "!"]]
TRANSFER = [["Mary", "visited", "Berlin"], ["Mary", "left", "Berlin"], ["qwzxv"]]


def test_glove_loads_offline_and_covers_the_expected_words():
    words, table = glove_table()
    assert len(words) == 400_000 and table.shape == (400_000, 50) and words[:3] == ["the", ",", "."]
    vectors, covered = glove_vectors(["Paris", "paris", "the", "qwzxvqwzxv"])
    assert covered.tolist() == [True, True, True, False]
    assert torch.equal(vectors[0], vectors[1])  # uncased: looked up lower-cased
    assert torch.equal(vectors[2], torch.from_numpy(np.array(table[0])))
    assert vectors[3].abs().sum() == 0 and vectors[0].abs().sum() > 0
    assert torch.nn.functional.cosine_similarity(*glove_vectors(["paris", "berlin"])[0], dim=0) > \
        torch.nn.functional.cosine_similarity(*glove_vectors(["paris", "banana"])[0], dim=0)


def test_subword_vectors_are_the_mean_of_the_teacher_subword_embeddings():
    from transformers import AutoModel, AutoTokenizer

    from structkd.encoders.transformer import DEFAULT_MODEL, resolve_model
    folder = resolve_model(DEFAULT_MODEL)
    vectors, covered = pretrained_vectors("subword", ["Paris", "unaffordable"], DEFAULT_MODEL)
    table = AutoModel.from_pretrained(folder, local_files_only=True).get_input_embeddings().weight
    pieces = AutoTokenizer.from_pretrained(folder, local_files_only=True)("unaffordable", add_special_tokens=False)
    assert covered.all() and vectors.shape == (2, table.shape[1]) and len(pieces["input_ids"]) > 1
    torch.testing.assert_close(vectors[1], table[pieces["input_ids"]].mean(0).detach())


def test_the_vocabularies_cover_the_transfer_text_and_the_pretrained_table_is_frozen_glove(tmp_path):
    torch.manual_seed(0)
    encoder = BiLSTMEncoder.from_corpus(TRAIN, extra=TRANSFER, extra_min_freq=2, vectors="glove", extra_vectors=1000,
                                        word_dim=6, char_encoder="cnn", hidden_size=5, num_layers=1)
    # trained embeddings: every training word, the transfer words seen twice
    assert all(w in encoder.words for w in ["John", "Paris", "Mary", "Berlin"]) and "visited" not in encoder.words
    assert encoder.chars.index("q") != encoder.chars.unk_index  # characters of the transfer text too
    # pretrained table: every corpus word GloVe knows, and GloVe's 1000 most frequent words
    assert all(w in encoder.pretrained for w in ["john", "visited", "berlin", "the", "people"])
    assert "qwzxv" not in encoder.pretrained
    rows = encoder.pretrained.indices(["visited", "Berlin", "qwzxv"])
    expected, _ = glove_vectors(["visited", "berlin"])
    assert torch.equal(encoder.pretrained_embed.weight[rows[:2]], expected)
    assert encoder.pretrained_embed.weight[rows[2]].abs().sum() == 0  # the unknown row
    assert not encoder.pretrained_embed.weight.requires_grad
    encoder.save_assets(tmp_path)
    again = build_encoder(json.loads(json.dumps(encoder.config())), tmp_path)
    again.load_state_dict(encoder.state_dict())
    assert again.pretrained == encoder.pretrained and not again.pretrained_embed.weight.requires_grad
    torch.testing.assert_close(again.eval()(TRANSFER)[0], encoder.eval()(TRANSFER)[0], atol=0, rtol=0)


def test_pretrained_vocabulary_keeps_corpus_words_once_in_order():
    assert pretrained_vocabulary("glove", ["The", "cat", "the"], 0) == ["the", "cat"]
    assert pretrained_vocabulary("subword", ["The", "cat"], 10) == ["the", "cat"]  # extra words: GloVe only


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_word_dropout_trains_the_unknown_word_vector(rate):
    """Every word of these sentences is known: without word dropout the unknown vector gets no gradient; with it,
    it does, and evaluation never drops a word."""
    torch.manual_seed(0)
    encoder = BiLSTMEncoder.from_corpus(TRAIN, word_dim=6, char_encoder=None, hidden_size=5, num_layers=1,
                                        word_dropout=rate).train()
    encoder(TRAIN * 8)[0].sum().backward()
    unk_grad = encoder.word_embed.weight.grad[encoder.words.unk_index]
    assert (unk_grad.abs().sum() > 0) == (rate > 0)
    encoder.eval()
    torch.testing.assert_close(encoder(TRAIN)[0], encoder(TRAIN)[0], atol=0, rtol=0)


def test_word_dropout_rate_is_checked():
    with pytest.raises(ValueError, match="word_dropout"):
        BiLSTMEncoder.from_corpus(TRAIN, word_dropout=1.0)
