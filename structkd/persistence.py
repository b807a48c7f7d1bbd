"""Save a model as a folder and rebuild it from that folder alone; nothing is ever pickled.

A model folder holds:

* ``config.json`` -- ``{"class": registered name, "module": defining module (for people; loading never
  imports it), "config": model.config()}``;
* ``model.safetensors`` -- the model's ``state_dict``;
* whatever else the model writes in ``save_assets(folder)`` (vocabularies as JSON, a transformer's
  config and tokenizer files).

Any ``torch.nn.Module`` class can be saved once it is registered with :func:`register` and offers

* ``config() -> dict``: JSON-able constructor arguments (hyper-parameters, labels, encoder config);
* ``save_assets(folder)``: write its other files into ``folder``;
* ``from_config(config, folder)`` (classmethod): rebuild the model, untrained, from both.

Loading resolves the class by its registered name only: among the classes registered so far and, failing that,
those the installed structkd task packages register (the ``structkd.tasks`` entry points); a folder cannot make
the program import a module of its choosing.  It rebuilds the model with ``from_config`` and reads the weights
with ``safetensors.torch.load_file``.
"""
from __future__ import annotations

import json
import os
import shutil
from importlib.metadata import entry_points
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import UserError

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
FORMAT_VERSION = 1

_REGISTRY: dict[str, type] = {}


class ModelFolderError(UserError, RuntimeError):
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
    """Write ``model`` as the folder ``folder``, replacing any folder there, atomically: it is written beside
    and renamed into place (:func:`replace_folder`), so a kill never leaves a half-written model folder."""
    name = getattr(type(model), "registered_name", None)
    if _REGISTRY.get(name) is not type(model):
        raise TypeError(f"{type(model).__name__} is not a registered model class (decorate it with @register(name))")
    folder = Path(folder)
    partial = partial_folder(folder)
    model.save_assets(partial)
    write_json(partial, CONFIG, {"format": FORMAT_VERSION, "class": name, "module": type(model).__module__,
                                 "config": model.config()})
    state = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(partial / WEIGHTS), metadata={"format": "pt"})
    replace_folder(partial, folder)
    return folder


def partial_folder(folder: Path) -> Path:
    """A new, empty folder beside ``folder`` to write its next version in (see :func:`replace_folder`)."""
    partial = folder.with_name(f".{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def replace_folder(partial: Path, folder: Path) -> None:
    """Make the finished folder ``partial`` be ``folder``: the old one is renamed aside, the new one renamed into
    place, the old one removed. A kill in between leaves no ``folder`` (which then fails to load, by name) or the
    old one, never a mix."""
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    partial.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load(folder: str | Path, device: str | torch.device = "cpu", kind: str | None = None) -> torch.nn.Module:
    """Rebuild the model saved in ``folder`` by :func:`save`, on ``device``; with ``kind`` (a registered name,
    e.g. "tagger"), only a model of that class.

    Raises :class:`ModelFolderError` naming the folder and the file when one is missing or unreadable, or when
    the folder holds another kind of model.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"cannot load a model from {folder}: no such folder")
    saved = read_json(folder, CONFIG)
    if not isinstance(saved, dict) or not {"class", "config"} <= saved.keys():
        raise ModelFolderError(f"cannot load the model in {folder}: {CONFIG!r} lacks 'class' or 'config'")
    if kind is not None and saved["class"] != kind:
        raise ModelFolderError(f"{folder} holds a {saved['class']} model, not a {kind}: use the command of its task "
                               f"(a tagger: structkd ... ner; a parser: structkd ... dep)")
    model_class = registered_class(saved["class"], folder)
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


def registered_class(name: str, folder: Path) -> type:
    """The class registered as ``name``, after loading the installed task packages if it is not yet known."""
    if name not in _REGISTRY:
        for entry in entry_points(group="structkd.tasks"):
            entry.load()  # a task package registers its model classes when it is imported
    if name not in _REGISTRY:
        raise ModelFolderError(f"cannot load the model in {folder}: no model class is registered as {name!r} "
                               f"(known: {sorted(_REGISTRY)})")
    return _REGISTRY[name]
