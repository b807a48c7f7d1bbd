"""structkd: knowledge distillation of structured predictors.

The public API::

    from structkd import LinearChainCRF, MaxEnt, kd_loss
    teacher = LinearChainCRF.from_emissions(emissions, transitions, lengths)
    student = MaxEnt(student_scores, lengths)
    loss = kd_loss(teacher, student)          # (B,) structural KD, one value per sentence

The names are loaded on first use (PEP 562), so that the modules that need no torch (the data readers and
writers, :mod:`structkd.decoders`, the ONNX predictor :mod:`structkd.serve`) import without it.
"""
from importlib import import_module

__version__ = "0.1.0"

#: every public name and the module that defines it
_EXPORTS = {
    **dict.fromkeys(("annealed_lambda", "cross_entropy", "gold_loss", "kd_from_marginals", "kd_loss", "kd_targets",
                     "kd_term", "label_cross_entropy"), ".objectives"),
    **dict.fromkeys(("ProjectionError", "project", "scenario"), ".projections"),
    **dict.fromkeys(("allowed_transitions", "constraint_scores"), ".constraints"),
    **dict.fromkeys(("Factorization", "HeadSelection", "LinearChainCRF", "MaxEnt", "NonProjectiveDependencyCRF",
                     "ProjectiveDependencyCRF", "SiblingMeanField", "SpanSegmentation"), ".structs"),
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    """A public name (imported from its module), or a submodule (``structkd.structs`` after ``import structkd``)."""
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name], __name__), name)
    else:
        try:
            value = import_module(f".{name}", __name__)
        except ModuleNotFoundError as error:
            if error.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'structkd' has no attribute {name!r}") from None
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
