"""The training loop: learning, best-model selection, early stopping, checkpoints and resume."""
import json
import random

import pytest
import torch
from safetensors.torch import load_file, save_file

from structkd import MaxEnt, gold_loss
from structkd.training import (
    CheckpointError, RunExistsError, TrainConfig, Trainer, batches, load_checkpoint, logged_seconds,
)
from structkd.training.checkpoint import save_checkpoint
from structkd.training.trainer import adamw


class TokenClassifier:
    """A tiny real task: a linear MaxEnt tagger over fixed random token features."""

    def __init__(self, dim=6, labels=3):
        self.model = torch.nn.Sequential(torch.nn.Dropout(0.1), torch.nn.Linear(dim, labels))

    def _dist(self, batch):
        lengths = torch.tensor([len(x) for x, _ in batch])
        feats = torch.nn.utils.rnn.pad_sequence([x for x, _ in batch], batch_first=True)
        return MaxEnt(self.model(feats), lengths), torch.nn.utils.rnn.pad_sequence([y for _, y in batch], True)

    def loss(self, batch, progress):
        dist, gold = self._dist(batch)
        return gold_loss(dist, gold).mean()

    def evaluate(self, examples):
        self.model.eval()
        with torch.no_grad():
            dist, gold = self._dist(examples)
        self.model.train()
        mask = torch.arange(gold.shape[1]) < dist.lengths.unsqueeze(-1)
        return {"score": (dist.decode() == gold)[mask].float().mean().item()}

    def save(self, folder):
        folder.mkdir(parents=True, exist_ok=True)
        save_file(self.model.state_dict(), str(folder / "model.safetensors"))


def toy_data(count, seed):
    g = torch.Generator().manual_seed(seed)
    proj = torch.randn(6, 3, generator=torch.Generator().manual_seed(99))
    out = []
    for _ in range(count):
        x = torch.randn(int(torch.randint(1, 6, (1,), generator=g)), 6, generator=g)
        out.append((x, (x @ proj).argmax(-1)))
    return out


def fit(tmp_path, name, epochs, resume=False, patience=10):
    torch.manual_seed(123)  # the model's initial weights
    task = TokenClassifier()
    trainer = Trainer(task, TrainConfig(epochs=epochs, batch_size=8, lr=0.05, patience=patience, seed=3),
                      tmp_path / name, show_progress=False)
    best = trainer.fit(toy_data(64, 0), toy_data(32, 1), resume=resume)
    return task, best


def test_fit_learns_keeps_the_best_model_and_logs(tmp_path):
    task, best = fit(tmp_path, "run", epochs=5)
    assert best["score"] > 0.8 and 1 <= best["epoch"] <= 5
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3, 4, 5]
    assert max(r["dev_score"] for r in log) == best["score"]
    assert (tmp_path / "run" / "best" / "model.safetensors").is_file()


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    straight, _ = fit(tmp_path, "straight", epochs=4)
    fit(tmp_path, "split", epochs=2)  # "killed" after epoch 2
    resumed, _ = fit(tmp_path, "split", epochs=4, resume=True)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    log = (tmp_path / "split" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == [1, 2, 3, 4]


def test_the_epochs_time_sums_over_every_call_of_a_resumed_run(tmp_path):
    fit(tmp_path, "split", epochs=2)  # "killed" after epoch 2
    log = tmp_path / "split" / "train_log.jsonl"
    first = [json.loads(line)["seconds"] for line in log.read_text().splitlines()]
    fit(tmp_path, "split", epochs=3, resume=True)
    seconds = [json.loads(line)["seconds"] for line in log.read_text().splitlines()]
    assert seconds[:2] == first and len(seconds) == 3 and all(s >= 0 for s in seconds)
    assert logged_seconds(tmp_path / "split") == pytest.approx(sum(seconds), abs=0.05)
    # a log some epoch of which did not record its time (an older version's), or none at all: unknown
    log.write_text("".join(json.dumps({k: v for k, v in json.loads(line).items() if k != "seconds" or i})
                           + "\n" for i, line in enumerate(log.read_text().splitlines())))
    assert logged_seconds(tmp_path / "split") is None and logged_seconds(tmp_path / "nothing") is None


def test_an_existing_run_is_not_overwritten_without_resume(tmp_path):
    fit(tmp_path, "run", epochs=1)
    with pytest.raises(RunExistsError, match="--resume"):
        fit(tmp_path, "run", epochs=1)


def test_early_stopping_stops_after_patience_epochs_without_improvement(tmp_path):
    _, best = fit(tmp_path, "run", epochs=30, patience=1)
    epochs_run = len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines())
    assert epochs_run == best["epoch"] + 1 < 30


def test_checkpoint_restores_optimizer_state_and_reports_missing_files(tmp_path):
    task, _ = fit(tmp_path, "run", epochs=1)
    optimizer = torch.optim.AdamW(task.model.parameters())
    state = load_checkpoint(tmp_path / "run" / "checkpoint", task.model, optimizer)
    assert state["epoch"] == 1 and optimizer.state_dict()["state"][0]["exp_avg"].abs().sum() > 0
    assert set(load_file(str(tmp_path / "run" / "checkpoint" / "model.safetensors"))) == set(task.model.state_dict())
    (tmp_path / "run" / "checkpoint" / "optimizer.json").unlink()
    with pytest.raises(CheckpointError, match="missing optimizer.json"):
        load_checkpoint(tmp_path / "run" / "checkpoint", task.model, optimizer)


def test_a_checkpoint_of_the_unfused_update_resumes_with_the_fused_one(tmp_path):
    """A run checkpointed by the per-tensor AdamW loop resumes with the trainer's fused kernel and its state:
    the next update equals the loop's own."""
    torch.manual_seed(0)
    model, twin = torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)
    twin.load_state_dict(model.state_dict())
    looped = torch.optim.AdamW(model.parameters(), lr=0.1, foreach=False)
    for _ in range(3):
        model(torch.randn(5, 4)).square().sum().backward()
        looped.step()
    save_checkpoint(tmp_path / "checkpoint", model, looped, {"epoch": 1})
    fused = adamw([{"params": list(twin.parameters())}], lr=0.5, weight_decay=0.0)
    load_checkpoint(tmp_path / "checkpoint", twin, fused)
    assert [group["fused"] for group in fused.param_groups] == [True]
    assert fused.param_groups[0]["lr"] == 0.1  # the run's own settings come back
    inputs, before = torch.randn(5, 4), twin.weight.detach().clone()
    for net, optimizer in ((model, looped), (twin, fused)):
        optimizer.zero_grad()
        net(inputs).square().sum().backward()
        optimizer.step()
    for mine, theirs in zip(twin.parameters(), model.parameters()):
        assert torch.allclose(mine, theirs, atol=1e-6)
    assert not torch.allclose(twin.weight, before, atol=1e-3)  # the step moved it


def test_batches_cover_every_example_once_and_group_similar_sizes():
    examples = list(range(100))
    out = batches(examples, 8, random.Random(0), sort_key=lambda x: x)
    assert sorted(x for b in out for x in b) == examples and max(map(len, out)) == 8
    assert all(max(b) - min(b) < 20 for b in out)


@pytest.mark.parametrize("schedule, warmup, expected", [
    ("constant", 0.0, [1.0] * 10),
    ("linear", 0.0, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]),
    ("linear", 0.2, [1 / 3, 2 / 3, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8]),
    ("constant", 0.2, [1 / 3, 2 / 3] + [1.0] * 8),
])
def test_lr_factor_follows_its_formula(schedule, warmup, expected):
    from structkd.training import lr_factor
    assert [lr_factor(t, 10, schedule, warmup) for t in range(10)] == pytest.approx(expected)


class KilledAfter(TokenClassifier):
    """The toy task, killed (KeyboardInterrupt) at its ``limit``-th training batch."""

    def __init__(self, limit):
        super().__init__()
        self.limit, self.calls = limit, 0

    def loss(self, batch, progress):
        self.calls += 1
        if self.calls == self.limit:
            raise KeyboardInterrupt
        return super().loss(batch, progress)


def test_a_linear_schedule_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights(tmp_path):
    config = TrainConfig(epochs=4, batch_size=8, lr=0.05, patience=10, seed=3, schedule="linear", warmup=0.1)
    runs = {}
    for name, task in (("straight", TokenClassifier()), ("killed", KilledAfter(limit=20))):
        torch.manual_seed(123)
        task.model = TokenClassifier().model
        runs[name] = task
        try:
            Trainer(task, config, tmp_path / name, show_progress=False).fit(toy_data(64, 0), toy_data(32, 1))
        except KeyboardInterrupt:  # in epoch 3 (8 batches an epoch): epochs 1-2 are checkpointed
            pass
    assert runs["killed"].calls == 20
    torch.manual_seed(0)
    resumed = TokenClassifier()
    Trainer(resumed, config, tmp_path / "killed", show_progress=False).fit(toy_data(64, 0), toy_data(32, 1),
                                                                         resume=True)
    for a, b in zip(runs["straight"].model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
