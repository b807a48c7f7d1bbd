"""The README's main job (``taggers.pipeline``): its bundled sample is what its README says, and the job runs
end to end (on the small samples, one epoch each), records what it measured and skips finished steps."""
import importlib.util
import json
from pathlib import Path

import pytest

from structkd.data import read_uner
from structkd.schemes import tags_to_entities
from taggers import pipeline

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.mark.parametrize("name, documents, sentences, entities", [
    ("train.iob2", 135, 3142, None), ("dev.iob2", 80, 446, 174), ("test.iob2", 158, 865, 431)])
def test_sample_holds_whole_documents_as_its_readme_says(name, documents, sentences, entities):
    path = pipeline.SAMPLE / name
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# newdoc") and text.count("\n# newdoc") + 1 == documents
    read = read_uner(path)
    assert len(read) == sentences
    if entities is not None:
        assert sum(len(tags_to_entities(s.tags)) for s in read) == entities
    readme = (pipeline.SAMPLE / "README.md").read_text(encoding="utf-8")
    assert f"{documents} documents, {sentences:,} sentences" in readme


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data")
def test_sample_is_rebuilt_byte_for_byte_from_the_corpora(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_sample", pipeline.SAMPLE / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    monkeypatch.setattr(make, "HERE", tmp_path)
    make.main(["--data", str(SHARED)])
    for name in pipeline.FILES.values():
        assert (tmp_path / name).read_bytes() == (pipeline.SAMPLE / name).read_bytes(), name


def test_main_job_runs_end_to_end_and_skips_finished_steps(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    sources = {"train": "uner_en_ewt-ud-train.prerelease.sample.iob2", "dev": "uner_en_ewt-ud-dev.sample.iob2",
               "test": "uner_en_ewt-ud-test.sample.iob2", "transfer": "atis.sample.txt"}
    for key, name in pipeline.FILES.items():
        (data / name).symlink_to(DATA / sources[key])
    argv = ["--data", str(data), "--output", str(tmp_path / "run"), "--teacher-epochs", "1", "--student-epochs", "1"]
    pipeline.main(argv)
    printed = capsys.readouterr().out
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    for model in ("teacher", "student"):
        assert 0 <= results[model]["f1"] <= 100 and results[model]["speed_1"] > 0
        assert (tmp_path / "run" / model / "best" / "model.safetensors").is_file()
    assert results["teacher"]["parameters"] > 4 * results["student"]["parameters"]
    assert set(results["seconds"]) == {"teacher", "student", "evaluation"}
    assert f"{results['teacher']['f1']:>8.2f}" in printed and "100 test sentences" in printed
    assert "minutes: teacher" in printed

    pipeline.main(argv)
    again = capsys.readouterr().out
    assert again.count("done, skipped") == 2
    rerun = json.loads((tmp_path / "run" / "results.json").read_text())
    assert rerun["teacher"]["f1"] == results["teacher"]["f1"] and rerun["student"]["f1"] == results["student"]["f1"]
    assert {k: rerun["seconds"][k] for k in ("teacher", "student")} == \
        {k: results["seconds"][k] for k in ("teacher", "student")}
