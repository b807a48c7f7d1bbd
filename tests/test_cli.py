"""The ``structkd`` command line."""
import pytest

from structkd.cli import main


def test_scenarios_lists_every_supported_pair(capsys):
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["scenario", "teacher", "student"]
    rows = {tuple(line.split()) for line in out[1:]}
    for row in [("1a", "LinearChainCRF", "LinearChainCRF"), ("2a", "LinearChainCRF", "MaxEnt"),
                ("3", "MaxEnt", "LinearChainCRF"), ("4", "SpanSegmentation", "LinearChainCRF"),
                ("1b", "ProjectiveDependencyCRF", "HeadSelection"), ("2b", "SiblingMeanField", "HeadSelection")]:
        assert row in rows


def test_help_and_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "scenarios" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("structkd ")
    assert main([]) == 2


@pytest.mark.parametrize("device, message", [
    ("bogus", "'bogus' is not a torch device"),
    ("cuda:7", "'cuda:7': this machine has"),
    ("meta", "'meta': only cpu and cuda devices are supported"),
])
def test_device_is_checked_before_anything_runs(capsys, device, message):
    """A device the machine does not have is a usage error naming the option, not a CUDA traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", "dep", "--model", "no-such-folder", "--data", "no-such-file", "--device", device])
    assert exit_info.value.code == 2
    assert f"argument --device: {message}" in capsys.readouterr().err


def test_cpu_device_is_accepted_by_every_verb():
    from structkd.cli import build_parser

    parser = build_parser()
    for argv in (["train", "ner", "--train", "a", "--dev", "b", "--output", "c"],
                 ["distill", "dep", "--teacher", "t", "--train", "a", "--dev", "b", "--output", "c"],
                 ["evaluate", "ner", "--model", "m", "--data", "d"],
                 ["predict", "dep", "--model", "m", "--input", "i", "--output", "o"]):
        assert parser.parse_args(argv + ["--device", "cpu"]).device == "cpu"
