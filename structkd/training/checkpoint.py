"""Training checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint folder holds

* ``model.safetensors`` -- the model's ``state_dict``;
* ``optimizer.safetensors`` + ``optimizer.json`` -- the optimizer's per-parameter state tensors and its
  remaining (JSON-able) state, e.g. the parameter groups and python scalars;
* ``trainer.json`` -- the loop's own state (epoch, step, best score, patience, ...) and the python RNG;
* ``rng.safetensors`` -- torch's CPU RNG state.

Writing goes to a temporary folder that is renamed into place, so a kill while saving leaves the
previous checkpoint intact.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import UserError
from ..persistence import partial_folder, replace_folder

MODEL, OPTIMIZER, OPTIMIZER_META, TRAINER, RNG = (
    "model.safetensors", "optimizer.safetensors", "optimizer.json", "trainer.json", "rng.safetensors",
)


class CheckpointError(UserError, RuntimeError):
    """A checkpoint folder that cannot be read back."""


def _split_optimizer_state(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """``optimizer.state_dict()`` -> (flat tensors keyed ``"<param>.<name>"``, the JSON-able rest)."""
    tensors, scalars = {}, {}
    for param, values in state_dict["state"].items():
        for name, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{param}.{name}"] = value.detach().cpu().clone().contiguous()
            else:
                scalars[f"{param}.{name}"] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _join_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in list(tensors.items()) + list(meta["scalars"].items()):
        param, name = key.split(".", 1)
        state.setdefault(int(param), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    trainer_state: dict) -> None:
    """Write a checkpoint atomically to ``folder`` (replacing any previous one)."""
    folder = Path(folder)
    tmp = partial_folder(folder)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / MODEL))
    tensors, meta = _split_optimizer_state(optimizer.state_dict())
    save_file(tensors, str(tmp / OPTIMIZER))
    (tmp / OPTIMIZER_META).write_text(json.dumps(meta))
    save_file({"torch": torch.get_rng_state()}, str(tmp / RNG))
    state = dict(trainer_state, python_rng=_jsonable_rng(random.getstate()))
    (tmp / TRAINER).write_text(json.dumps(state, indent=2))
    replace_folder(tmp, folder)


def load_checkpoint(folder: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """Restore model, optimizer and RNG states from ``folder``; return the trainer state."""
    folder = Path(folder)
    missing = [name for name in (MODEL, OPTIMIZER, OPTIMIZER_META, TRAINER, RNG) if not (folder / name).is_file()]
    if missing:
        raise CheckpointError(f"{folder}: not a complete checkpoint (missing {', '.join(missing)})")
    try:
        model.load_state_dict(load_file(str(folder / MODEL)))
        meta = json.loads((folder / OPTIMIZER_META).read_text())
        _load_optimizer(optimizer, _join_optimizer_state(load_file(str(folder / OPTIMIZER)), meta))
        torch.set_rng_state(load_file(str(folder / RNG))["torch"])
        state = json.loads((folder / TRAINER).read_text())
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as err:
        raise CheckpointError(f"{folder}: cannot restore the checkpoint (resume with the options the run was started "
                              f"with, or start it again in a new --output): {' '.join(str(err).split())}") from err
    random.setstate(_python_rng(state.pop("python_rng")))
    return state


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """``optimizer.load_state_dict(saved)``, keeping the optimizer's own kernel choice (``fused``, ``foreach``):
    how the update is computed is not part of the run's state, and a run started before the fused update
    became the default resumes with it.  A fused update keeps its step counts on the parameters' device."""
    kernels = [{key: group[key] for key in ("fused", "foreach") if key in group} for group in optimizer.param_groups]
    optimizer.load_state_dict(saved)
    for group, kernel in zip(optimizer.param_groups, kernels):
        group.update(kernel)
        if group.get("fused"):
            for param in group["params"]:
                state = optimizer.state.get(param, {})
                if torch.is_tensor(state.get("step")):
                    state["step"] = state["step"].to(param.device, torch.float32)


def _jsonable_rng(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_rng(state: list) -> tuple:
    version, internal, gauss = state
    return version, tuple(internal), gauss
