"""Teacher targets on disk: reused exactly when everything they depend on is the same, recomputed otherwise."""
import pytest
import torch

from structkd.training import cached_teacher_targets, teacher_targets
from test_tagger_task import tagger

WORDS = [["John", "lives", "in", "Paris"], ["Hello"], ["Hello", "there", "John"]]


def same(a, b) -> bool:
    if isinstance(a, tuple):
        return all(same(x, y) for x, y in zip(a, b))
    return a.dtype == b.dtype and torch.equal(a, b)


@pytest.mark.parametrize("method", ["structural", "token", "topk"])
def test_targets_are_written_once_then_read_back_unchanged(tmp_path, method):
    teacher, student = tagger("crf", 0), tagger("maxent" if method != "topk" else "crf", 1)
    path = tmp_path / "cache" / "targets"
    computed, reused = cached_teacher_targets(path, teacher, student, WORDS, method, k=3, show_progress=False)
    assert not reused and path.is_dir() and not list(path.glob(".*partial"))
    expected = teacher_targets(teacher, student, WORDS, method, 3, show_progress=False)
    assert len(computed) == len(expected) == 3 and all(map(same, computed, expected))
    read, reused = cached_teacher_targets(path, teacher, student, WORDS, method, k=3, show_progress=False)
    assert reused and all(map(same, read, expected))
    other_seed = tagger("maxent" if method != "topk" else "crf", 7)  # another student of the same kind
    assert cached_teacher_targets(path, teacher, other_seed, WORDS, method, k=3, show_progress=False)[1]
    wider = tagger("maxent" if method != "topk" else "crf", 1, hidden_size=12)  # another encoder, same outputs
    assert cached_teacher_targets(path, teacher, wider, WORDS, method, k=3, show_progress=False)[1]


@pytest.mark.parametrize("change", ["teacher weights", "sentences", "method", "k", "temperature", "student kind"])
def test_anything_the_targets_depend_on_invalidates_the_file(tmp_path, change):
    teacher, student = tagger("crf", 0), tagger("crf", 1)
    path = tmp_path / "targets"
    options = dict(method="topk", k=3, global_temperature=1.0, show_progress=False)
    cached_teacher_targets(path, teacher, student, WORDS, **options)
    words = WORDS
    if change == "teacher weights":
        with torch.no_grad():
            next(teacher.parameters()).add_(1e-3)
    elif change == "sentences":
        words = WORDS[:2] + [["Hello", "there", "Paris"]]
    elif change in ("method", "k", "temperature"):
        options.update({"method": {"method": "structural"}, "k": {"k": 2},
                        "temperature": {"global_temperature": 2.0}}[change])
    else:
        student = tagger("maxent", 1)  # another factorization over the same labels
    fresh, reused = cached_teacher_targets(path, teacher, student, words, **options)
    assert not reused
    assert cached_teacher_targets(path, teacher, student, words, **options)[1]  # the replaced file now fits


def test_a_damaged_shard_is_recomputed_not_read(tmp_path):
    teacher, student = tagger("crf", 0), tagger("maxent", 1)
    cached_teacher_targets(tmp_path, teacher, student, WORDS, show_progress=False, shard_size=2)
    (tmp_path / "shard-00001.safetensors").write_bytes(b"not a safetensors file")
    targets, reused = cached_teacher_targets(tmp_path, teacher, student, WORDS, show_progress=False, shard_size=2)
    expected = teacher_targets(teacher, student, WORDS[:2], show_progress=False) + \
        teacher_targets(teacher, student, WORDS[2:], show_progress=False)
    assert not reused and all(map(same, targets, expected))


def test_sentences_past_one_shard_stream_through_shards_and_resume_at_the_first_missing(tmp_path, monkeypatch):
    """Shards of 2 sentences over 5: each written as soon as the teacher is done with it; a run killed after the
    first shard computes the rest only; every target equals the in-memory one."""
    words = WORDS + [["Paris", "is", "nice"], ["Bye"]]
    teacher, student = tagger("crf", 0), tagger("crf", 1)
    expected = [t for start in range(0, 5, 2) for t in teacher_targets(teacher, student, words[start:start + 2],
                                                                      show_progress=False)]
    import structkd.training.target_cache as cache
    real, calls = cache.teacher_targets, []

    def killed_after_one_shard(*args, **kwargs):
        if calls:
            raise KeyboardInterrupt
        calls.append(len(args[2]))
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "teacher_targets", killed_after_one_shard)
    with pytest.raises(KeyboardInterrupt):
        cached_teacher_targets(tmp_path, teacher, student, words, show_progress=False, shard_size=2)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != cache.LABELLING_LOCK) == ["shard-00000.safetensors"]
    counted = []
    monkeypatch.setattr(cache, "teacher_targets", lambda *a, **kw: counted.append(len(a[2])) or real(*a, **kw))
    targets, reused = cached_teacher_targets(tmp_path, teacher, student, words, show_progress=False, shard_size=2)
    assert counted == [2, 1] and not reused and len(targets) == 5
    assert all(map(same, targets, expected))
    assert cached_teacher_targets(tmp_path, teacher, student, words, show_progress=False, shard_size=2)[1]


def test_the_divergences_of_a_tagger_share_structural_kds_targets(tmp_path):
    teacher, student = tagger("crf", 0), tagger("crf", 1)
    path = tmp_path / "cache"
    assert not cached_teacher_targets(path, teacher, student, WORDS, "structural", show_progress=False)[1]
    for method in ("kl", "rkl", "js", "tvd"):
        assert cached_teacher_targets(path, teacher, student, WORDS, method, show_progress=False)[1]
    assert not cached_teacher_targets(path, teacher, student, WORDS, "token", show_progress=False)[1]


def test_a_run_sharing_the_cache_waits_for_the_one_labelling_it_then_reads_its_shards(tmp_path, monkeypatch):
    """Two runs over one cache folder at once (the seeds of a benchmark row): the teacher labels each shard once."""
    import threading
    import time

    import structkd.training.target_cache as cache
    teacher, student = tagger("crf", 0), tagger("crf", 1)
    real, calls, labelling = cache.teacher_targets, [], threading.Event()

    def slow(*args, **kwargs):
        calls.append(threading.current_thread().name)
        labelling.set()
        time.sleep(0.2)  # the other run starts meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "teacher_targets", slow)
    outcome = {}

    def run():
        outcome[threading.current_thread().name] = cached_teacher_targets(tmp_path, teacher, student, WORDS,
                                                                          show_progress=False, shard_size=2)
    first = threading.Thread(target=run, name="first")
    first.start()
    assert labelling.wait(10)
    second = threading.Thread(target=run, name="second")
    second.start()
    first.join()
    second.join()
    assert calls == ["first", "first"] and not outcome["first"][1] and outcome["second"][1]
    assert all(map(same, outcome["second"][0], outcome["first"][0]))


def test_a_run_keeps_reading_its_own_targets_after_another_run_replaces_the_shards(tmp_path):
    """Two runs with other sentences share a folder: the second replaces the shards, and the first, still
    running, reads what it was given (its shards stay mapped), never the second's."""
    teacher, student = tagger("crf", 0), tagger("crf", 1)
    first, _ = cached_teacher_targets(tmp_path, teacher, student, WORDS, show_progress=False, shard_size=2)
    expected = [t for shard in (WORDS[:2], WORDS[2:])
                for t in teacher_targets(teacher, student, shard, show_progress=False)]
    other = [["Paris", "is", "nice"], ["Bye", "John"], ["Hello"]]
    second, reused = cached_teacher_targets(tmp_path, teacher, student, other, show_progress=False, shard_size=2)
    assert not reused and not same(second[0], expected[0])
    assert all(same(first[i], expected[i]) for i in range(len(first)))  # first was not read before the swap


def test_shards_of_another_fingerprint_are_refused_when_read(tmp_path):
    from structkd.training.target_cache import CachedTargets
    teacher, student = tagger("crf", 0), tagger("crf", 1)
    cached_teacher_targets(tmp_path, teacher, student, WORDS, show_progress=False, shard_size=2)
    with pytest.raises(ValueError, match="shard-00000.safetensors: these teacher targets belong to"):
        CachedTargets(tmp_path, len(WORDS), 2, "another fingerprint")
