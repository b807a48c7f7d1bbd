"""The ``structkd`` command line."""
from __future__ import annotations

import argparse
import sys

from . import __version__


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
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
