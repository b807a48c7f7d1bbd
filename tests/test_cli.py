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
