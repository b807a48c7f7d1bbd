"""The ``structkd`` command line: ``structkd VERB TASK [options]``.

The verbs (train, distill, evaluate, predict) are the core's; what they do for a task (``ner``,
``dep``, ...) comes from the task families that packages register under the entry-point group
``structkd.tasks`` (see ``setup.cfg``), so the core imports no model package.  A family is an object
with ``add_arguments(verb, parser)`` and ``run(verb, args) -> int`` and a ``help`` text per verb.
"""
from __future__ import annotations

import argparse
import errno
import sys
from importlib.metadata import entry_points
from typing import Callable

from . import __version__
from .errors import UserError

VERBS = {
    "train": "train a model (a teacher, or a student from gold) on a training file, selecting on a dev file",
    "distill": "train a student from a teacher model folder (structural, token-level, posterior KD or none)",
    "evaluate": "score a model folder on a labelled file",
    "predict": "tag or parse a file with a model folder and write the predictions",
    "export": "write a model folder as ONNX graphs + vocabularies for onnxruntime (predict --backend onnx)",
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Options' help with their defaults, except where there is nothing to show (no default, an off switch)
    or the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help or ""
        return super()._get_help_string(action)


def task_families() -> dict:
    """The registered task families by name (entry-point group ``structkd.tasks``)."""
    return {ep.name: ep.load() for ep in entry_points(group="structkd.tasks")}


def _scenarios(args: argparse.Namespace) -> int:
    """Print every supported teacher -> student pair with its Structural-KD scenario."""
    from .projections import PROJECTIONS, SCENARIOS

    rows = sorted(((SCENARIOS[k], k[0].__name__, k[1].__name__) for k in PROJECTIONS))
    width = max(len(t) for _, t, _ in rows)
    print(f"{'scenario':<9}{'teacher':<{width + 2}}student")
    for name, teacher, student in rows:
        print(f"{name:<9}{teacher:<{width + 2}}{student}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="structkd",
        description="Knowledge distillation of structured predictors (CRF taggers, dependency parsers).",
    )
    parser.add_argument("--version", action="version", version=f"structkd {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    families = task_families()
    for verb, help_text in VERBS.items():
        verb_parser = verbs.add_parser(verb, help=help_text, description=help_text)
        verb_parser.set_defaults(run=lambda args, verb_parser=verb_parser: verb_parser.print_help() or 2)
        tasks = verb_parser.add_subparsers(dest="task", metavar="TASK")
        for name, family in families.items():
            task_parser = tasks.add_parser(name, help=family.help[verb], description=family.help[verb],
                                           formatter_class=HelpFormatter)
            family.add_arguments(verb, task_parser)
            task_parser.set_defaults(run=lambda args, family=family, verb=verb: family.run(verb, args))
    scen = verbs.add_parser(
        "scenarios", help="list the supported teacher -> student factorization pairs and their KD scenario",
        description="List every teacher -> student pair that structkd can distill, with its scenario "
                    "(1a/1b same factorization, 2a/2b student finer, 3 teacher finer, 4 incompatible).",
    )
    scen.set_defaults(run=_scenarios)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    return reported(lambda: args.run(args))


def reported(run: Callable[[], int]) -> int:
    """``run()``'s exit status; a user error (bad input, folder, option, path, permission, disk) is printed on one
    line naming the file (and line) and gives status 1, anything else (a bug) keeps its traceback."""
    try:
        return run()
    except UserError as err:
        return fail(str(err))
    except OSError as err:
        if err.errno not in USER_OS_ERRORS:
            raise
        where = f"{err.filename}: " if err.filename else ""
        return fail(f"{where}{err.strerror or err}{USER_OS_ERRORS[err.errno]}")


#: file-system errors a user causes (a path, its permissions, the disk), with what to do about each
USER_OS_ERRORS = {
    errno.ENOENT: " (check the path)", errno.EISDIR: " (a file is expected here, not a folder)",
    errno.ENOTDIR: " (a part of this path is a file, not a folder)", errno.EACCES: " (check the permissions)",
    errno.EPERM: " (check the permissions)", errno.EROFS: " (choose a writable place)",
    errno.ENOSPC: " (free some disk space; an interrupted run resumes from its last checkpoint with --resume)",
    errno.EDQUOT: " (disk quota exceeded; free some space)", errno.ENAMETOOLONG: " (shorten the path)",
}


def fail(message: str) -> int:
    """Print a user error on one line and give the exit status 1."""
    print(f"structkd: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
