"""NER benchmark on UNER English-EWT: MiniLM teachers, BiLSTM students per Structural-KD scenario, CPU speed.

Runs, resume, parallel workers, speed and report work as :mod:`harness` says; every run is a
``structkd train ner`` or ``structkd distill ner`` call, evaluated with ``structkd evaluate ner`` on the
released dev and test files (entity F1, per type).  The plan (students for every seed
``s = 0 .. --seeds - 1``; see ``--list``)::

    teacher-crf, teacher-maxent, teacher-span       MiniLM + CRF / MaxEnt / span teachers (seed 0)
    gold-crf-s{s}, gold-maxent-s{s}                 BiLSTM students on gold only (shared by the scenarios)
    1a-token+transfer-s{s}, 1a-structural+transfer-s{s}        CRF -> CRF
    2a-token+transfer-s{s}, 2a-structural+transfer-s{s}        CRF -> MaxEnt
    3-token+transfer-s{s}, 3-structural+transfer-s{s}          MaxEnt -> CRF
    4-token+transfer-s{s}, 4-structural+transfer-s{s}          span -> MaxEnt

Every KD student learns from the teacher on the training sentences (lam * KD + (1 - lam) * gold) and on the
transfer text (KD alone): ``unlabeled-web`` (151,887 sentences in EWT-like genres, openly licensed), one
transfer batch per gold batch; ``--transfer-nc`` adds the non-commercial files of ``unlabeled-en`` (research
runs only; runs named ``+transfer-nc``).  KD on the training sentences alone adds nothing to gold training
(``benchmarks/results/recipe.md``: the teacher's marginals there are nearly the gold labels), so the plan has
no KD row without transfer text.  The labelled-fraction protocol (``--fractions``, default 10% and 30%) adds,
for scenario 1a, ``gold-crf-gold{P}-s{s}``, ``1a-token+transfer-gold{P}-s{s}`` and
``1a-structural+transfer-gold{P}-s{s}``: gold on P% of the training sentences, the rest and the transfer text
labelled by the teacher; every student trains for the full-data run's
number of updates (epochs over the fraction).

Speed: the three teachers and the seed-0 structural students of 1a (CRF) and 2a (MaxEnt).

Usage::

    python benchmarks/ner.py                       # the full benchmark (resumable; see --help for the options)
    python benchmarks/ner.py --list                # the plan and what is done
    python benchmarks/ner.py --only 'teacher-*'    # some runs only (glob, or a substring of the run name)
    python benchmarks/ner.py --report-only         # rebuild the report from the finished runs
    python benchmarks/ner.py --device cuda --jobs 8 --no-speed   # train on a GPU, 8 runs side by side
    python benchmarks/ner.py --max-train 200 --teacher-epochs 1 --student-epochs 1 --seeds 2 \\
        --runs /tmp/ner-smoke --results /tmp/ner-smoke.md    # smoke run
"""
from __future__ import annotations

from harness import (  # noqa: E402  (sets sys.path for the imports below)
    ROOT, STUDENT_INPUTS, Setup, Spec, student_inputs_text, hyper_text, main as run_benchmark, transfer_text,
)
from structkd.data import read_uner  # noqa: E402
from taggers.task import TaggingTask  # noqa: E402

#: MiniLM teachers: AdamW at 5e-5 (the usual fine-tuning rate of a pretrained transformer, and the CLI's
#: default), 16 sentences a batch, at most 3 epochs (``--teacher-epochs``), early stopping on dev F1.
TEACHER = {"lr": 5e-5, "batch_size": 16, "epochs": 3, "patience": 3}
#: BiLSTM students (the CLI's default encoder: 2 layers of 200 per direction, 100-d words + frozen GloVe 50-d,
#: character CNN, word dropout 0.1): AdamW at 2e-3 decayed linearly to 0 over the run, batch 32, 6 epochs
#: (``--student-epochs``), best dev epoch kept: the budget of the dev sweep that chose the recipe
#: (benchmarks/recipe_sweep.py).
STUDENT = {"lr": 2e-3, "batch_size": 32, "epochs": 6, "patience": 3, "schedule": "linear"}
F1_KEPT = 0.97

TRAIN = "UNER_English-EWT/en_ewt-ud-train.prerelease.iob2"
SPLITS = {"dev": "UNER_English-EWT/en_ewt-ud-dev.iob2", "test": "UNER_English-EWT/en_ewt-ud-test.iob2"}


def model_options(head: str, prefix: str) -> list[str]:
    """The tagger head ``head`` ("crf", "maxent", "span") as CLI options."""
    return [f"--{prefix}head", head]


def count(path: str, limit: int | None = None) -> int:
    """Sentences of a UNER (``.iob2``) file, at most ``limit``."""
    return len(read_uner(path)[:limit])


def keep_target(teacher: float, student: float) -> tuple[bool, str]:
    if teacher <= 0:
        return False, "not measurable: the teacher's test F1 is 0"
    kept = student / teacher
    return kept >= F1_KEPT, (f"{kept:.1%} of the teacher's test F1 ({student:.2f} vs {teacher:.2f}; needs "
                             f"{F1_KEPT:.0%})")


def data_lines(setup: Setup) -> list[str]:
    train = count(setup.file(TRAIN), setup.max_train)
    transfer = transfer_text(setup)
    limit = f"the first {train:,} sentences of " if setup.max_train else f"all {train:,} sentences of "
    return [
        f"- train: {limit}the **pre-release** UNER English-EWT train file `{TRAIN}` (commit 0c7ce0de; "
        "OTH and stray B-O tags mapped to O, as the official loader does; after that mapping it agrees with "
        "the released annotations at entity F1 98.6 on dev, 95.6 on test, as `../shared/data/README.md` says)",
        f"- dev / test: the **released** files `{SPLITS['dev']}` ({count(setup.file(SPLITS['dev'])):,} sentences, "
        f"model selection and early stopping) and `{SPLITS['test']}` "
        f"({count(setup.file(SPLITS['test'])):,} sentences); entity F1 in percent (seqeval, conlleval-style "
        "matching), PER, ORG, LOC",
        f"- transfer text (every KD row, labelled by the teacher only, no gold term): {transfer}",
    ]


def settings_lines(setup: Setup) -> list[str]:
    return [
        f"- teachers: all-MiniLM-L6-v2 + CRF / MaxEnt / span (BIO tags), seed 0, "
        f"{hyper_text(TEACHER, setup.teacher_epochs, 'F1')}",
        f"- students: BiLSTM (2 x 200 per direction; {student_inputs_text(SPEC)}) + CRF or MaxEnt (BIO), seeds "
        f"0-{setup.seeds - 1}, {hyper_text(STUDENT, setup.student_epochs, 'F1')}",
    ]


def per_type(result: dict) -> list[str]:
    """Test F1 of PER / ORG / LOC."""
    types = result["test"]["per_type"]
    return [" / ".join(f"{types[k]['f1']:.2f}" if k in types else "n/a" for k in ("PER", "ORG", "LOC"))]


SPEC = Spec(
    task="ner", title="NER teachers and distilled students on UNER English-EWT", metric="f1", metric_label="F1",
    train=TRAIN, splits=SPLITS,
    teachers={"crf": "MiniLM + CRF", "maxent": "MiniLM + MaxEnt", "span": "MiniLM + span"},
    students={"crf": "BiLSTM + CRF", "maxent": "BiLSTM + MaxEnt"},
    scenarios={
        "1a": ("crf", "crf", ("gold", "token", "structural")),
        "2a": ("crf", "maxent", ("gold", "token", "structural")),
        "3": ("maxent", "crf", ("gold", "token", "structural")),
        "4": ("span", "maxent", ("gold", "token", "structural")),
    },
    methods={"gold": "gold only", "token": "token-level KD + transfer text",
             "structural": "structural KD + transfer text"},
    teacher_hyper=TEACHER, student_hyper=STUDENT, model_options=model_options, read_test=read_uner,
    predictor=TaggingTask, keep_target=keep_target, keep_text=f"keeps >= {F1_KEPT:.0%} of the teacher's F1",
    gold_margin=1.0, data_lines=data_lines, settings_lines=settings_lines,
    student_options=STUDENT_INPUTS, fraction_scenarios=("1a",), fraction_margin=5.0,
    teacher_columns=(["test F1 PER / ORG / LOC"], per_type),
)


def main(argv=None) -> None:
    run_benchmark(SPEC, __doc__, ROOT / "benchmarks" / "results" / "ner.md", argv)


if __name__ == "__main__":
    main()
