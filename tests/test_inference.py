"""Batched decoding in length order gives every sentence its own output, as decoding it alone does."""
import pytest

from structkd.data import Sentence
from structkd.inference import decode_by_length
from taggers.task import TaggingTask
from test_tagger_task import tagger


def test_batches_follow_length_and_outputs_follow_the_input_order():
    items = ["ccc", "a", "dddd", "bb", "e"]
    seen = []

    def decode(batch):
        seen.append(list(batch))
        return [item.upper() for item in batch]

    assert decode_by_length(items, [len(i) for i in items], 2, decode) == ["CCC", "A", "DDDD", "BB", "E"]
    assert seen == [["a", "e"], ["bb", "ccc"], ["dddd"]]
    with pytest.raises(ValueError, match="1 outputs for a batch of 2"):
        decode_by_length(items, [len(i) for i in items], 2, lambda batch: batch[:1])


def test_a_tagger_decodes_the_same_in_length_ordered_batches_as_one_by_one():
    task = TaggingTask(tagger("crf", 0))
    words = [["John", "lives", "in", "Paris"], ["Hello"], ["Hello", "there", "John", "in", "Paris", "there"],
             ["in"], ["Paris", "Hello"]]
    sentences = [Sentence(w, None, [[t] for t in w], [], "mem", 1) for w in words]
    task.eval_batch_size = 3
    batched = task.predict(sentences)
    task.eval_batch_size = 1
    assert batched == task.predict(sentences) and [len(tags) for tags in batched] == [len(w) for w in words]
