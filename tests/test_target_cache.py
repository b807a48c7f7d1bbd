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
    path = tmp_path / "cache" / "targets.safetensors"
    computed, reused = cached_teacher_targets(path, teacher, student, WORDS, method, k=3, show_progress=False)
    assert not reused and path.is_file() and not list(path.parent.glob(".*partial"))
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
    path = tmp_path / "targets.safetensors"
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


def test_a_damaged_file_is_recomputed_not_read(tmp_path):
    teacher, student = tagger("crf", 0), tagger("maxent", 1)
    path = tmp_path / "targets.safetensors"
    path.write_bytes(b"not a safetensors file")
    targets, reused = cached_teacher_targets(path, teacher, student, WORDS, show_progress=False)
    assert not reused and all(map(same, targets, teacher_targets(teacher, student, WORDS, show_progress=False)))
