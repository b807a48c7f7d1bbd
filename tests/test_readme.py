"""The README's Python example runs as written and does what it says."""
import pathlib
import re

import torch

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_backpropagates():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python example"
    namespace: dict = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    loss, scores = namespace["loss"], namespace["student_scores"]
    assert loss.shape == (2,) and torch.isfinite(loss).all()
    assert scores.grad is not None and scores.grad.abs().sum() > 0


def test_readme_divergence_example_runs_and_labels_each_value():
    block = next(b for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.S) if "divergences." in b)
    namespace: dict = {}
    exec(compile(block, str(README), "exec"), namespace)
    estimate = namespace["d"]
    assert estimate.kind == "estimate" and estimate.value.shape == (2,) and (estimate.stderr > 0).all()
