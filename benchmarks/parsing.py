"""Dependency-parsing benchmark on UD English-EWT: MiniLM biaffine teachers, BiLSTM students, CPU speed.

Runs, resume, parallel workers, speed and report work as :mod:`harness` says; every run is a
``structkd train dep`` or ``structkd distill dep`` call, evaluated with ``structkd evaluate dep`` on the dev
and test files (UAS, LAS, UCM, LCM; punctuation excluded as SuPar does).  The plan (students for every seed
``s = 0 .. --seeds - 1``; see ``--list``)::

    teacher-local, teacher-nonprojective, teacher-sibling
                   MiniLM biaffine teachers: first-order trained per word (local), first-order tree CRF
                   (matrix-tree), second-order sibling (mean-field); all decoded by MST (seed 0)
    gold-head-selection-s{s}, gold-nonprojective-s{s}          BiLSTM students on gold only
    1b-token+transfer-s{s}, 1b-structural+transfer-s{s}       tree CRF -> head selection
    1a-token+transfer-s{s}, 1a-structural+transfer-s{s}       tree CRF -> first-order tree CRF
    2b-token+transfer-s{s}, 2b-structural+transfer-s{s}       second order -> head selection

Token-level KD distills the teacher's per-word head distribution (the softmax of its arc scores over
heads); structural KD its arc marginals.  The first-order BiLSTM student shares the teacher's
factorization, which the library calls scenario 1a.  Both distil the teacher's relation distributions too.
Every KD student also learns from the transfer text, ``unlabeled-web``, parsed by the teacher only (KD
alone there; one transfer batch per gold batch).  The labelled-fraction protocol (``--fractions``, default
10% and 30%) adds, for scenario 1b, ``gold-head-selection-gold{P}-s{s}``, ``1b-token+transfer-gold{P}-s{s}``
and ``1b-structural+transfer-gold{P}-s{s}``: gold on P% of the training sentences, the rest and the transfer
text parsed by the teacher; every student trains for the full-data run's
number of updates (epochs over the fraction).  Speed: the three teachers and the seed-0 structural
students of 1b (head selection) and 1a (first-order).  SuPar's biaffine parser, trained by
``benchmarks/supar_peer.py`` into ``RUNS/supar-biaffine``, gets its own section when it is there.

Usage::

    python benchmarks/parsing.py                   # the full benchmark (resumable; see --help for the options)
    python benchmarks/parsing.py --list            # the plan and what is done
    python benchmarks/parsing.py --device cuda --jobs 8 --no-speed   # train on a GPU, 8 runs side by side
    python benchmarks/parsing.py --max-train 200 --teacher-epochs 1 --student-epochs 1 --seeds 2 \\
        --runs /tmp/dep-smoke --results /tmp/dep-smoke.md    # smoke run
"""
from __future__ import annotations

import json
from pathlib import Path

from harness import (  # noqa: E402  (sets sys.path for the imports below)
    ROOT, STUDENT_INPUTS, Setup, Spec, student_inputs_text, hyper_text, main as run_benchmark, table, transfer_text,
)
from parsers.task import ParsingTask  # noqa: E402
from structkd.data import read_conllu_trees  # noqa: E402

#: MiniLM teachers: AdamW at 1e-4 (one rate for the encoder and the freshly initialised biaffine scorers),
#: 32 sentences a batch, at most 3 epochs (``--teacher-epochs``), early stopping on dev LAS.
TEACHER = {"lr": 1e-4, "batch_size": 32, "epochs": 3, "patience": 3}
#: BiLSTM students (the CLI's default encoder: 2 layers of 200 per direction, 100-d words + frozen GloVe 50-d,
#: character CNN, word dropout 0.1): AdamW at 2e-3 decayed linearly to 0 over the run, batch 32, at most 10
#: epochs (``--student-epochs``), stop after 3 epochs without dev gain (the recipe of benchmarks/recipe_sweep.py).
STUDENT = {"lr": 2e-3, "batch_size": 32, "epochs": 10, "patience": 3, "schedule": "linear"}
LAS_KEPT = 1.5  # the student's test LAS may be at most this far below the teacher's

TRAIN = "UD_English-EWT/en_ewt-ud-train.conllu"
SPLITS = {"dev": "UD_English-EWT/en_ewt-ud-dev.conllu", "test": "UD_English-EWT/en_ewt-ud-test.conllu"}
SUPAR = "supar-biaffine"  # SuPar's run folder under --runs (benchmarks/supar_peer.py)
SUPAR_KEPT = ROOT / "benchmarks" / "results" / "supar-biaffine.json"  # its result.json, kept in the repository


def _structure(folder: Path) -> str:
    """The structure of the structkd parser timed beside SuPar: from its model folder, or, once that is gone, from
    its path (``.../speed-head-selection/best``)."""
    config = folder / "config.json"
    if config.exists():
        return json.loads(config.read_text())["config"]["structure"]
    return next((s for s in ("head-selection", "nonprojective", "projective", "local") if s in str(folder)), "parser")


def model_options(structure: str, prefix: str) -> list[str]:
    """The parser's output ``structure`` as CLI options."""
    return [f"--{prefix}structure", structure]


def read_test(path: str) -> list:
    return read_conllu_trees(path, require_single_root=False)


def keep_target(teacher: float, student: float) -> tuple[bool, str]:
    gap = teacher - student
    return gap <= LAS_KEPT, (f"{gap:.2f} LAS below the teacher ({student:.2f} vs {teacher:.2f}; may be at most "
                             f"{LAS_KEPT:g} below)")


def data_lines(setup: Setup) -> list[str]:
    train = len(read_conllu_trees(setup.file(TRAIN))[: setup.max_train])
    dev, test = (len(read_test(setup.file(SPLITS[split]))) for split in ("dev", "test"))
    return [
        f"- UD English-EWT 2.16: train {'the first ' if setup.max_train else 'all '}{train:,} sentences of "
        f"`{TRAIN}`, dev `{SPLITS['dev']}` ({dev:,} sentences, model selection and early stopping), test "
        f"`{SPLITS['test']}` ({test:,} sentences)",
        "- UAS / LAS in percent over words, punctuation excluded (Unicode punctuation, as SuPar does); "
        "multiword-token and empty-node lines are carried through and not scored",
        f"- transfer text (rows \"+ transfer text\" and the labelled-fraction protocol, parsed by the teacher only, "
        f"no gold term): {transfer_text(setup)}",
    ]


def settings_lines(setup: Setup) -> list[str]:
    return [
        "- teachers: all-MiniLM-L6-v2 + biaffine arc and relation scorers, first-order (local or tree CRF) or "
        f"second-order sibling (3 mean-field iterations), seed 0, {hyper_text(TEACHER, setup.teacher_epochs, 'LAS')}",
        f"- students: BiLSTM (2 x 200 per direction; {student_inputs_text(SPEC)}) + the same biaffine scorers, "
        f"head selection or first-order tree CRF, seeds 0-{setup.seeds - 1}, "
        f"{hyper_text(STUDENT, setup.student_epochs, 'LAS')}",
        "- every tree decoder is Chu-Liu-Edmonds MST with a single root, except head selection (per-word argmax, "
        "which may not be a tree)",
    ]


def attachment_columns(result: dict) -> list[str]:
    """Test UAS, UCM and LCM."""
    return [f"{result['test'][k]:.2f}" for k in ("uas", "ucm", "lcm")]


def supar_section(setup: Setup) -> list[str]:
    """SuPar's biaffine parser, trained on the same data with the students' budget, if it was run: its result in
    the runs folder, else the copy kept in the repository (:data:`SUPAR_KEPT`)."""
    path = next((p for p in (setup.runs / SUPAR / "result.json", SUPAR_KEPT) if p.exists()), None)
    if path is None:
        return ["## SuPar biaffine parser", "", f"Not run yet: `python benchmarks/supar_peer.py --output "
                f"{setup.runs / SUPAR}` trains it.", ""]
    r = json.loads(path.read_text())
    scores, speed = r["scores"], r["speed"]
    rows = [[r["peer"], f"{scores['dev']['las']:.2f}", f"{scores['test']['uas']:.2f}", f"{scores['test']['las']:.2f}",
             f"{r['parameters']:,}", f"{speed['speed_32']:.1f}", f"{speed['speed_1']:.1f}"]]
    structures = {folder: _structure(Path(folder)) for folder in r["compared"]}
    rows += [[f"structkd BiLSTM {structures[folder]} (`{folder}`)", "", "", "",
              f"{m['parameters']:,}", f"{m['speed_32']:.1f} ({m['speed_32'] / speed['speed_32']:.1f}x SuPar)",
              f"{m['speed_1']:.1f} ({m['speed_1'] / speed['speed_1']:.1f}x SuPar)"]
             for folder, m in r["compared"].items()]
    unconstrained = "head-selection" in structures.values()
    return ["## SuPar biaffine parser", "",
            f"Result: `{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`. "
            f"Trained by `benchmarks/supar_peer.py` (settings in its `result.json`: {r['training']['epochs_run']} "
            f"epochs run, best epoch {r['training']['best_epoch']}); speed timed on {speed['machine']} over "
            f"{speed['sentences']:,} test sentences, other processes keeping {speed['other_load']:.2f} cores busy; "
            "the structkd parsers below it were timed in the same process on the same sentences (speed only: a "
            "parser's speed depends on its architecture, not its weights)."
            + (" Head selection decodes a per-word argmax, which need not be a tree; SuPar decodes well-formed "
               "trees (MST where its greedy heads are not one)." if unconstrained else ""), "",
            *table(["parser", "dev LAS", "test UAS", "test LAS", "parameters", "sentences/s, batch 32",
                    "sentences/s, batch 1"], rows)]


SPEC = Spec(
    task="dep", title="dependency-parsing teachers and distilled students on UD English-EWT", metric="las",
    metric_label="LAS", train=TRAIN, splits=SPLITS,
    teachers={"local": "MiniLM first-order (local)", "nonprojective": "MiniLM first-order (tree CRF)",
              "sibling": "MiniLM second-order"},
    students={"head-selection": "BiLSTM head selection", "nonprojective": "BiLSTM first-order (tree CRF)"},
    scenarios={
        "1b": ("nonprojective", "head-selection", ("gold", "token", "structural")),
        "1a": ("nonprojective", "nonprojective", ("gold", "token", "structural")),
        "2b": ("sibling", "head-selection", ("gold", "token", "structural")),
    },
    methods={"gold": "gold only", "token": "token-level KD + transfer text",
             "structural": "structural KD + transfer text"},
    teacher_hyper=TEACHER, student_hyper=STUDENT, model_options=model_options, read_test=read_test,
    predictor=ParsingTask, keep_target=keep_target, keep_text=f"within {LAS_KEPT:g} LAS of the teacher",
    gold_margin=0.5, data_lines=data_lines, settings_lines=settings_lines,
    student_options=STUDENT_INPUTS, fraction_scenarios=("1b",), fraction_margin=3.0,
    teacher_columns=(["test UAS", "test UCM", "test LCM"], attachment_columns), extra_sections=supar_section,
)


def main(argv=None) -> None:
    run_benchmark(SPEC, __doc__, ROOT / "benchmarks" / "results" / "parsing.md", argv)


if __name__ == "__main__":
    main()
