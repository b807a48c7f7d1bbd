"""What an epoch trains on: the gold/transfer mix, and the raw-text files a --transfer list names."""
from collections import Counter

import pytest

from structkd.data import DataError, read_text_sources, text_files
from structkd.training import GoldTransferMix, Shuffled

GOLD, TRANSFER = list(range(95)), list(range(1000, 1700))


@pytest.mark.parametrize("ratio", [0.5, 1.0, 3.0])
def test_an_epoch_has_every_gold_sentence_and_ratio_transfer_batches_per_gold_batch(ratio):
    mix = GoldTransferMix(GOLD, TRANSFER, ratio)
    for epoch in (1, 2):
        epoch_batches = mix.epoch_batches(epoch, 10, seed=3)
        gold = [b for b in epoch_batches if b[0] < 1000]
        transfer = [b for b in epoch_batches if b[0] >= 1000]
        assert all(all(x < 1000 for x in b) or all(x >= 1000 for x in b) for b in epoch_batches)  # never mixed
        assert sorted(x for b in gold for x in b) == GOLD and len(gold) == 10
        assert len(transfer) == round(ratio * 10) == mix.transfer_batches(10)
        assert all(len(b) == 10 for b in transfer)
        assert len(epoch_batches) == mix.batches_per_epoch(10)
    assert mix.epoch_batches(2, 10, seed=3) == mix.epoch_batches(2, 10, seed=3)  # a resumed run: same batches
    assert mix.epoch_batches(2, 10, seed=3) != mix.epoch_batches(2, 10, seed=4)


def test_transfer_batches_use_every_transfer_sentence_before_any_twice():
    mix = GoldTransferMix(GOLD, TRANSFER, 3.0)  # 300 transfer sentences an epoch, 700 in all
    per_epoch = [[x for b in mix.epoch_batches(epoch, 10, seed=0) for x in b if x >= 1000] for epoch in (1, 2, 3, 4)]
    assert [len(e) for e in per_epoch] == [300] * 4
    assert len(set(per_epoch[0] + per_epoch[1])) == 600  # no repeat within the first pass
    assert sorted(set(per_epoch[0] + per_epoch[1] + per_epoch[2])) == TRANSFER  # the first pass covers them all
    assert max(Counter(x for e in per_epoch for x in e).values()) == 2


def test_shuffled_is_one_pass_over_every_example():
    epoch_batches = Shuffled(GOLD).epoch_batches(1, 10, seed=0)
    assert sorted(x for b in epoch_batches for x in b) == GOLD and Shuffled(GOLD).batches_per_epoch(10) == 10


def test_a_mix_needs_both_kinds_and_a_positive_ratio():
    with pytest.raises(ValueError, match="positive"):
        GoldTransferMix(GOLD, TRANSFER, 0)
    with pytest.raises(ValueError, match="gold and transfer"):
        GoldTransferMix(GOLD, [], 1.0)


def test_transfer_paths_are_files_or_folders_of_text_files(tmp_path):
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / "b.txt").write_text("Hello there\nBye\n")
    (folder / "a.txt").write_text("First one\n")
    (folder / "a.LICENSE.txt").write_text("licence text\n")
    (folder / "README.md").write_text("# read me\n")
    single = tmp_path / "single.txt"
    single.write_text("Alone here\n")
    assert text_files([folder, single]) == [folder / "a.txt", folder / "b.txt", single]
    sentences = read_text_sources([str(folder), str(single)])
    assert [s.tokens for s in sentences] == [["First", "one"], ["Hello", "there"], ["Bye"], ["Alone", "here"]]
    assert (sentences[2].path, sentences[2].line) == (str(folder / "b.txt"), 2)
    with pytest.raises(DataError, match="no such file"):
        text_files([tmp_path / "missing.txt"])
    with pytest.raises(DataError, match="named twice"):
        text_files([single, single])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no \\*.txt"):
        text_files([tmp_path / "empty"])


def test_a_gold_fraction_is_a_fixed_subset_and_the_rest_loses_its_gold_in_place():
    from structkd.commands import keep_gold
    from structkd.data import Sentence

    sentences = [Sentence([f"w{i}"], ["O"], [[f"w{i}"]], [], "mem", i + 1) for i in range(50)]
    marked = keep_gold(sentences, 0.3, ["tags"])
    assert [s.line for s in marked] == list(range(1, 51))  # every sentence, in its order
    assert [s.tokens for s in marked] == [s.tokens for s in sentences]
    kept = [s.line for s in marked if s.tags is not None]
    assert len(kept) == 15 and all(s.tags in (None, ["O"]) for s in marked)
    assert [s.line for s in keep_gold(sentences, 0.3, ["tags"]) if s.tags is not None] == kept  # fixed
    assert keep_gold(sentences, 1.0, ["tags"]) == sentences
    with pytest.raises(SystemExit, match="gold-fraction"):
        keep_gold(sentences, 0.0, ["tags"])
