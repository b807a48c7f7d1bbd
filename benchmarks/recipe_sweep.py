"""The dev sweep behind the BiLSTM students' recipe, on UNER English-EWT dev (one seed; test is never read).

Which word inputs (none, GloVe 6B 50-d, the teacher's pooled subword vectors), whether the linear learning-rate
decay and word dropout help, and what structural KD, token-level KD and teacher-labelled transfer text
(``unlabeled-web``) add, for the BiLSTM + CRF student of scenario 1a and its MiniLM + CRF teacher (the NER
benchmark's ``teacher-crf``), all at one budget: 6 epochs, AdamW 2e-3, batch 32, seed 0 (seeds 1 and 2 also
for gold only and structural KD + transfer text, to show the seed noise).  The labelled-fraction rows keep the
gold of 10% of the training sentences.  The last rows try the temperature for scenario 2a (the BiLSTM + MaxEnt
student of the same teacher; its temperature-1 row is the NER benchmark's ``2a-structural+transfer-s0``, the
same arguments), and the budget of the labelled-fraction protocol (6 epochs over 30% of the sentences against 20,
the full-data run's number of steps).  The choices are made on dev; each row's test F1 is read
once, after training, and shown beside it (one seed: the benchmarks give the 3-seed figures).

Every row is one ``structkd train ner`` / ``structkd distill ner`` call into ``--runs/NAME``: finished rows are
skipped, an interrupted one resumes, rows sharing the teacher's targets over the same sentences share one cache
(``--runs/cache``).  The report lists each row's best dev F1, its epoch and its training minutes.

Usage::

    python benchmarks/recipe_sweep.py --teacher runs/ner-bench/teacher-crf/best   # train what is missing, report
    python benchmarks/recipe_sweep.py --report-only                               # rebuild the report
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from harness import ROOT, STUDENT_INPUTS, TRAIN_MINUTES, code_version, machine, minutes_cell, prefixed, table  # noqa: E402  (sets sys.path)
from structkd.cli import main as cli  # noqa: E402
from taggers.pipeline import run_once  # noqa: E402

TRAIN = "UNER_English-EWT/en_ewt-ud-train.prerelease.iob2"
DEV = "UNER_English-EWT/en_ewt-ud-dev.iob2"
TEST = "UNER_English-EWT/en_ewt-ud-test.iob2"
BUDGET = ["--epochs", "6", "--lr", "2e-3"]
#: (row tag, epochs, patience) of the labelled-fraction rows: 6 epochs over 30% of the training sentences make 30%
#: of the full-data run's steps; 20 epochs (patience scaled alike) match them
FRACTION_BUDGETS = (("", "6", "3"), ("-20ep", "20", "10"))
def gold(vectors: str = "glove", schedule: str = "linear", dropout: str = "0.1", *extra: str) -> list[str]:
    """Gold training of the student with the recipe's word inputs (``STUDENT_INPUTS``), but for ``vectors``,
    ``dropout`` and the learning-rate ``schedule``."""
    inputs = {**STUDENT_INPUTS, "word-vectors": vectors, "word-dropout": dropout}
    return ["train", "ner", "--encoder", "bilstm", *prefixed(inputs, ""), "--lr-schedule", schedule, *BUDGET, *extra]


def distill(teacher: str, objective: str, *extra: str) -> list[str]:
    """Distillation with the recipe; ``extra`` comes last, so its options override the budget and lam 0.5."""
    return ["distill", "ner", "--teacher", teacher, *prefixed(STUDENT_INPUTS, "student-"), "--lr-schedule", "linear",
            "--objective", objective, "--lam", "0.5", *BUDGET, *extra]


def rows(teacher: str, data: Path, runs: Path) -> list[tuple[str, str, list[str]]]:
    """``(name, what it measures, CLI arguments)`` of every row, in report order."""
    web, web_maxent = (["--transfer", str(data / "unlabeled-web"), "--teacher-cache", str(runs / "cache" / cache)]
                       for cache in ("crf-crf-structural-web", "crf-maxent-structural-web"))
    return [
        ("gold-none", "gold only, no pretrained vectors", gold("none")),
        ("gold-subword", "gold only, the teacher's pooled subword vectors", gold("subword")),
        ("gold-glove", "gold only, GloVe 6B 50-d (the recipe)", gold()),
        ("gold-glove-constant-nodrop", "gold only, GloVe, constant learning rate, no word dropout",
         gold("glove", "constant", "0")),
        ("1a-token", "token-level KD (lam 0.5)", distill(teacher, "token")),
        ("1a-structural", "structural KD (lam 0.5)", distill(teacher, "structural")),
        ("1a-structural+web", "structural KD + unlabeled-web (151,887 sentences, ratio 1)",
         distill(teacher, "structural", *web)),
        *((f"gold-glove-s{seed}", f"gold only, GloVe, seed {seed}", gold("glove", "linear", "0.1", "--seed", str(seed)))
          for seed in (1, 2)),
        *((f"1a-structural+web-s{seed}", f"structural KD + unlabeled-web, seed {seed}",
           distill(teacher, "structural", *web, "--seed", str(seed))) for seed in (1, 2)),
        ("gold-glove-gold10", "gold only on 10% of train", gold("glove", "linear", "0.1", "--gold-fraction", "0.1")),
        ("1a-structural-gold10", "structural KD, gold on 10% of train, the rest + unlabeled-web teacher-labelled",
         distill(teacher, "structural", "--gold-fraction", "0.1", *web)),
        # the KD settings, on the web-text run (they read its targets: local temperature leaves them as they are)
        ("1a-structural+web-lam0.8", "structural KD + unlabeled-web, lam 0.8", distill(teacher, "structural", *web,
                                                                                         "--lam", "0.8")),
        ("1a-structural+web-anneal", "structural KD + unlabeled-web, lam annealed from 1 to 0 (--anneal 1)",
         distill(teacher, "structural", *web, "--anneal", "1")),
        ("1a-structural+web-T2", "structural KD + unlabeled-web, temperature 2 (local)",
         distill(teacher, "structural", *web, "--temperature", "2")),
        ("1a-structural+web-10ep", "structural KD + unlabeled-web, 10 epochs (is 6 enough?)",
         distill(teacher, "structural", *web, "--epochs", "10")),
        # the labelled-fraction protocol's budget (its 6-epoch rows are the NER benchmark's seed-0 runs)
        *((f"gold-glove-gold30{tag}", f"gold only on 30% of train, {epochs} epochs",
           gold("glove", "linear", "0.1", "--gold-fraction", "0.3", "--epochs", epochs, "--patience", patience))
          for tag, epochs, patience in FRACTION_BUDGETS),
        *((f"1a-structural+web-gold30{tag}", f"structural KD + unlabeled-web, gold on 30% of train, {epochs} epochs",
           distill(teacher, "structural", *web, "--gold-fraction", "0.3", "--epochs", epochs, "--patience", patience))
          for tag, epochs, patience in FRACTION_BUDGETS),
        # scenario 2a (BiLSTM + MaxEnt student of the CRF teacher): the temperature (the reference uses 5 there)
        *((f"2a-structural+web{'' if t == '1' else '-T' + t}",
           f"scenario 2a (MaxEnt student): structural KD + unlabeled-web, temperature {t} (local)",
           distill(teacher, "structural", *web_maxent, "--student-head", "maxent", "--temperature", t))
          for t in ("1", "2", "5")),
    ]


def report(runs: Path, table_rows: list[tuple[str, str, list[str]]], command: str) -> list[str]:
    lines = []
    for name, what, argv in table_rows:
        summary = runs / name / "summary.json"
        if not summary.exists():
            lines.append([name, what, "n/a (not run yet)", "", "", ""])
            continue
        result, test = json.loads(summary.read_text()), runs / name / "test.json"
        test_f1 = f"{json.loads(test.read_text())['f1']:.2f}" if test.exists() else "n/a (not evaluated)"
        lines.append([name, what, f"{result['score']:.2f}", test_f1, str(result["epoch"]),
                      minutes_cell(result.get("train_seconds"), result["seconds"])])
    return [
        "# structkd: the BiLSTM student recipe, a dev sweep (UNER English-EWT, scenarios 1a and 2a)", "",
        f"- report written {datetime.datetime.now().isoformat(timespec='seconds')} by `{command}` ({code_version()})",
        f"- runs trained on: {machine(threads=1)} per run, two runs side by side",
        "- every row: seed 0 unless it names another, at most 6 epochs unless it names another number, AdamW 2e-3, batch 32, best dev F1 epoch kept; the recipe was chosen "
        "on dev F1, test F1 is read once per row after training; the exact arguments are in "
        "`benchmarks/recipe_sweep.py`",
        "- teacher: MiniLM + CRF (`teacher-crf` of `benchmarks/ner.py`)", "",
        *table(["run", "what it measures", "dev F1", "test F1", "best epoch", "train min"], lines),
        f"Train min: {TRAIN_MINUTES}", "",
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the data folder")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "recipe", help="one folder per row")
    parser.add_argument("--teacher", default=str(ROOT / "runs" / "ner-bench" / "teacher-crf" / "best"),
                        help="the MiniLM + CRF teacher folder")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "recipe.md")
    parser.add_argument("--threads", default="1", help="torch threads per run")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report; train nothing")
    parser.add_argument("--only", action="append", metavar="NAME", help="train this row only (repeatable)")
    parser.add_argument("--discussion", type=Path, default=ROOT / "benchmarks" / "results" / "recipe-discussion.md",
                        help="a markdown file appended to the report (what the rows show), when it exists")
    args = parser.parse_args(argv)
    table_rows = rows(args.teacher, args.data, args.runs)
    if not args.report_only:
        common = ["--train", str(args.data / TRAIN), "--dev", str(args.data / DEV), "--threads", args.threads, "--quiet"]
        for name, _, row in (r for r in table_rows if not args.only or r[0] in args.only):
            run_once(args.runs / name, row + common)
            test = args.runs / name / "test.json"
            if not test.exists() and cli(["evaluate", "ner", "--model", str(args.runs / name / "best"), "--data",
                                          str(args.data / TEST), "--json", str(test)]) != 0:
                raise SystemExit(f"failed: structkd evaluate ner on {args.runs / name}")
    command = "python benchmarks/recipe_sweep.py " + " ".join(sys.argv[1:] if argv is None else argv)
    lines = report(args.runs, table_rows, command.strip())
    if args.discussion.exists():
        lines.append(args.discussion.read_text())
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
