"""Save a model as a folder and rebuild it from that folder alone; nothing is ever pickled.

A model folder holds:

* ``config.json`` -- ``{"class": registered name, "module": defining module, "config": model.config()}``;
* ``model.safetensors`` -- the model's ``state_dict``;
* whatever else the model writes in ``save_assets(folder)`` (vocabularies as JSON, a transformer's
  config and tokenizer files).

Any ``torch.nn.Module`` class can be saved once it is registered with :func:`register` and offers

* ``config() -> dict``: JSON-able constructor arguments (hyper-parameters, labels, encoder config);
* ``save_assets(folder)``: write its other files into ``folder``;
* ``from_config(config, folder)`` (classmethod): rebuild the model, untrained, from both.

Loading imports the defining module (which registers the class), rebuilds the model with
``from_config`` and reads the weights with ``safetensors.torch.load_file``.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
FORMAT_VERSION = 1

_REGISTRY: dict[str, type] = {}


class ModelFolderError(RuntimeError):
    """A model folder lacks a file, or holds one that cannot be read."""


def register(name: str):
    """Class decorator: make a model class savable and loadable under ``name``."""
    def decorate(cls):
        known = _REGISTRY.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"model name {name!r} is already registered to {known.__module__}.{known.__qualname__}")
        _REGISTRY[name] = cls
        cls.registered_name = name
        return cls
    return decorate


def require_file(folder: str | Path, name: str) -> Path:
    """``folder / name``; raises :class:`ModelFolderError` naming both when it does not exist."""
    path = Path(folder) / name
    if not path.is_file():
        raise ModelFolderError(f"cannot load the model in {Path(folder)}: the file {name!r} is missing")
    return path


def read_json(folder: str | Path, name: str):
    """The parsed JSON file ``folder / name``; :class:`ModelFolderError` when missing or malformed."""
    path = require_file(folder, name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFolderError(
            f"cannot load the model in {Path(folder)}: {name!r} is not valid JSON ({error})") from error


def write_json(folder: str | Path, name: str, data) -> None:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def save(model: torch.nn.Module, folder: str | Path) -> Path:
    """Write ``model`` into ``folder`` (created if needed; existing files of the same names are replaced)."""
    name = getattr(type(model), "registered_name", None)
    if _REGISTRY.get(name) is not type(model):
        raise TypeError(f"{type(model).__name__} is not a registered model class (decorate it with @register(name))")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_assets(folder)
    write_json(folder, CONFIG, {"format": FORMAT_VERSION, "class": name, "module": type(model).__module__,
                                "config": model.config()})
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"format": "pt"})
    return folder


def load(folder: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild the model saved in ``folder`` by :func:`save`, on ``device``.

    Raises :class:`ModelFolderError` naming the folder and the file when one is missing or unreadable.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"cannot load a model from {folder}: no such folder")
    saved = read_json(folder, CONFIG)
    if not isinstance(saved, dict) or not {"class", "module", "config"} <= saved.keys():
        raise ModelFolderError(f"cannot load the model in {folder}: {CONFIG!r} lacks 'class', 'module' or 'config'")
    model_class = _registered_class(saved["class"], saved["module"], folder)
    try:
        model = model_class.from_config(saved["config"], folder)
    except KeyError as error:
        raise ModelFolderError(f"cannot load the model in {folder}: {CONFIG!r} lacks the setting {error}") from error
    path = require_file(folder, WEIGHTS)
    try:
        state = load_file(str(path), device=str(device))
    except (SafetensorError, OSError) as error:
        raise ModelFolderError(f"cannot load the model in {folder}: {WEIGHTS!r} is not a readable safetensors "
                               f"file ({error})") from error
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelFolderError(f"cannot load the model in {folder}: the weights in {WEIGHTS!r} do not fit the "
                               f"model of {CONFIG!r}: {error}") from error
    return model.to(device)


def _registered_class(name: str, module: str, folder: Path) -> type:
    if name not in _REGISTRY:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ModelFolderError(f"cannot load the model in {folder}: its class {name!r} lives in the module "
                                   f"{module!r}, which cannot be imported ({error})") from error
    if name not in _REGISTRY:
        raise ModelFolderError(f"cannot load the model in {folder}: no model class is registered as {name!r} "
                               f"(known: {sorted(_REGISTRY)})")
    return _REGISTRY[name]
