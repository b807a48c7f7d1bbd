"""The benchmark harness: plans, run selection, seed statistics, target checks and the report.

Training itself is covered by the CLI tests; here the results are written by the test (clearly made-up
numbers in a temporary runs folder) to check what the harness concludes from them; the parallel workers and
the speed step run for real on the bundled samples.
"""
import json
import shutil
import statistics
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import harness  # noqa: E402
import model_speed  # noqa: E402
import ner_student_size  # noqa: E402
import ner  # noqa: E402
import parsing  # noqa: E402
from structkd.cli import main as cli  # noqa: E402
from structkd.data import read_text  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"


def option(argv: list[str] | tuple[str, ...], name: str) -> str:
    """The value of option ``name`` in a command line."""
    return argv[argv.index(name) + 1]


def setup_for(tmp_path: Path, seeds: int = 3) -> harness.Setup:
    return harness.Setup(DATA, tmp_path, seeds, harness.TRANSFER, 3, 10, None, "cpu")


@pytest.mark.parametrize("spec, per_seed", [(ner.SPEC, 10), (parsing.SPEC, 8)])
def test_plan_has_each_run_once_teachers_first(tmp_path, spec, per_seed):
    setup = setup_for(tmp_path)
    runs = harness.plan(setup, spec)
    names = [run.name for run in runs]
    assert len(names) == len(set(names)) == len(spec.teachers) + 3 * per_seed
    assert names[: len(spec.teachers)] == [f"teacher-{key}" for key in spec.teachers]
    for run in runs:
        if run.teacher:  # a distilled student names its teacher's saved model
            assert run.teacher in names[: len(spec.teachers)]
            assert str(tmp_path / run.teacher / "best") in run.argv and run.argv[:2] == ("distill", spec.task)
            assert option(run.argv, "--transfer") == str(DATA / "unlabeled-web")  # every KD row
        else:
            assert run.argv[:2] == ("train", spec.task)
    assert all(option(run.argv, "--device") == "cpu" for run in runs)


def test_gold_runs_are_shared_by_scenarios_with_the_same_student(tmp_path):
    setup = setup_for(tmp_path)
    one = harness.student_run(setup, ner.SPEC, "1a", "gold", 0)
    other = harness.student_run(setup, ner.SPEC, "3", "gold", 0)
    assert one == other and one.name == "gold-crf-s0" and one.teacher is None


def test_kd_runs_learn_from_the_transfer_text_and_share_one_labelling_per_row(tmp_path):
    setup = harness.Setup(DATA, tmp_path, 3, harness.TRANSFER, 3, 10, None, "cpu", (0.1,))
    runs = {run.name: run for run in harness.plan(setup, parsing.SPEC)}
    first, later = runs["1b-structural+transfer-s0"], runs["1b-structural+transfer-s2"]
    assert option(later.argv, "--objective") == "structural"
    assert str(DATA / "unlabeled-web") in later.argv
    assert option(later.argv, "--student-structure") == "head-selection"
    cache = str(tmp_path / "cache" / "teacher-nonprojective-head-selection-structural")
    fraction = runs["1b-structural+transfer-gold10-s1"]
    assert {option(run.argv, "--teacher-cache") for run in (first, later, fraction)} == {cache}
    assert first.after == () and later.after == fraction.after == (first.name,)  # seed 0 labels, the others wait
    token = runs["1b-token+transfer-s0"]
    assert option(token.argv, "--teacher-cache") != cache and runs["gold-head-selection-s1"].after == ()


def test_triage_waits_for_the_run_that_writes_the_cache(tmp_path):
    setup, spec = setup_for(tmp_path), ner.SPEC
    crf = harness.teacher_run(setup, spec, "crf")
    write_result(setup, crf, 78.0)
    (setup.runs / crf.name / "best").mkdir()
    first, second = (harness.student_run(setup, spec, "1a", "structural", seed) for seed in (0, 1))
    names = {crf.name, first.name, second.name}
    assert harness.triage(setup, [first, second], names, harness.finished(setup), set())[0] == [first]
    assert "after 1a-structural+transfer-s0" in harness.status(setup, spec, second, harness.finished(setup))
    assert harness.triage(setup, [second], names, harness.finished(setup), {first.name})[0] == [second]  # it failed
    write_result(setup, first, 70.0)
    assert harness.triage(setup, [second], names, harness.finished(setup), set())[0] == [second]


@pytest.mark.parametrize("spec, scenario", [(ner.SPEC, "1a"), (parsing.SPEC, "1b")])
def test_labelled_fraction_runs_keep_a_fraction_of_gold_and_distil_the_rest(tmp_path, spec, scenario):
    setup = harness.Setup(DATA, tmp_path, 2, harness.TRANSFER, 3, 10, None, "cpu", (0.1, 0.3))
    runs = {run.name: run for run in harness.plan(setup, spec)}
    _, key, _ = spec.scenarios[scenario]
    for fraction, tag in ((0.1, "gold10"), (0.3, "gold30")):
        for seed in (0, 1):
            gold = runs[f"gold-{key}-{tag}-s{seed}"]
            assert option(gold.argv, "--gold-fraction") == f"{fraction:g}" and "--transfer" not in gold.argv
            # the full-data run's number of updates: 10 epochs over the fraction, patience scaled alike
            full_gold = runs[f"gold-{key}-s{seed}"]
            assert option(gold.argv, "--epochs") == str(round(10 / fraction))
            assert option(gold.argv, "--patience") == str(round(int(option(full_gold.argv, "--patience")) / fraction))
            for method in ("token", "structural"):
                run = runs[f"{scenario}-{method}+transfer-{tag}-s{seed}"]
                assert option(run.argv, "--gold-fraction") == f"{fraction:g}"
                full = runs[f"{scenario}-{method}+transfer-s{seed}"]
                assert option(run.argv, "--epochs") == str(round(10 / fraction))
                assert option(run.argv, "--patience") == str(round(int(option(full.argv, "--patience")) / fraction))
                assert option(run.argv, "--transfer") == str(DATA / "unlabeled-web")
                assert option(run.argv, "--objective") == method and run.teacher
    assert len(runs) == len(harness.plan(setup_for(tmp_path, 2), spec)) + 2 * 2 * 3
    every_student = [run for run in runs.values() if run.name.startswith(("gold-", scenario))]
    for run in every_student:  # the student recipe
        prefix = "--student-" if run.argv[0] == "distill" else "--"
        for name, value in spec.student_options.items():
            assert option(run.argv, prefix + name) == value
        assert option(run.argv, "--lr-schedule") == spec.student_hyper["schedule"]


def test_selected_by_glob_or_substring(tmp_path):
    runs = harness.plan(setup_for(tmp_path), ner.SPEC)
    assert [r.name for r in harness.selected(runs, ["teacher-*"])] == ["teacher-crf", "teacher-maxent", "teacher-span"]
    assert {r.name for r in harness.selected(runs, ["1a-structural+transfer-s"])} == {
        f"1a-structural+transfer-s{seed}" for seed in range(3)}
    assert harness.selected(runs, None) == runs


def test_scores_mean_and_sample_deviation():
    runs = [harness.Run(f"r{i}", ()) for i in range(3)]
    results = {"r0": {"dev": {"f1": 1.0}, "test": {"f1": 2.0}}, "r2": {"dev": {"f1": 3.0}, "test": {"f1": 5.0},
                                                                      "nonfinite_loss_epochs": [2]}}
    scores = harness.Scores.of(runs, results, "f1")
    assert scores.test == [2.0, 5.0] and scores.planned == 3 and scores.nonfinite == 1 and not scores.complete
    assert scores.mean() == 3.5 and scores.std() == pytest.approx(statistics.stdev([2.0, 5.0]))
    assert scores.cell("dev") == "2.00 ± 1.41" and scores.seeds() == "2 of 3 done"


def write_result(setup: harness.Setup, run: harness.Run, score: float, finished: str | None = None,
                 taught_by: str | None = None) -> None:
    """A planted result of ``run`` (parsing scores), finished at ``finished``, taught by the teacher version that
    finished at ``taught_by``."""
    folder = setup.runs / run.name
    folder.mkdir(parents=True)
    scores = {"las": score, "uas": score + 3, "ucm": 10.0, "lcm": 5.0}
    teacher = {"teacher": {"name": run.teacher, "finished": taught_by}} if taught_by else {}
    (folder / harness.RESULT).write_text(json.dumps(dict(
        name=run.name, argv=list(run.argv), dev=scores, test=scores, best_epoch=1, parameters=1000,
        train_seconds=60.0, call_seconds=70.0, nonfinite_loss_epochs=[], machine="CPU X, 2 usable cores",
        finished=finished or
        f"t-{run.name}", **teacher)))


def test_train_minutes_say_which_time_they_are():
    assert harness.train_minutes({"train_seconds": 600.0, "call_seconds": 900.0}) == "10"  # epochs, every call
    assert harness.train_minutes({"train_seconds": None, "call_seconds": 900.0}) == "15\\*"  # an epoch not logged
    assert harness.train_minutes({"train_seconds": 600.0}) == "10\\*"  # an older record: its last call's time
    import divergences
    assert divergences.mean_minutes([10.0, None, 20.0]) == "15 (2 of 3)"  # the runs whose epochs logged their time
    assert divergences.mean_minutes([None]) == "n/a" and divergences.mean_minutes([]) == ""


def timed_roles(setup: harness.Setup, spec: harness.Spec) -> dict[str, str]:
    """Every teacher and the first stand-in of every student architecture, as a speed group's roles."""
    return {harness.teacher_run(setup, spec, key).name: f"teacher:{key}" for key in spec.teachers} | {
        harness.speed_students(setup, spec, key)[0].name: f"student:{key}" for key in spec.students}


def speed_record(setup: harness.Setup, spec: harness.Spec, teacher: float, student: float) -> list[dict]:
    """One speed group timing every model: teachers at ``teacher`` sentences/s, students at ``student``."""
    roles = timed_roles(setup, spec)
    return [{"roles": roles, "date": "today", "machine": "CPU X", "code": "git x", "sentences": 40, "other_load": 0.0,
             "models_finished": {name: f"t-{name}" for name in roles},
             "models": {name: {"parameters": 100 if name.startswith("teacher") else 10,
                               "speed_32": teacher if name.startswith("teacher") else student,
                               "speed_1": teacher if name.startswith("teacher") else student} for name in roles}}]


def test_parsing_targets_met_missed_and_partial(tmp_path):
    setup, spec = setup_for(tmp_path), parsing.SPEC
    scores = {"gold": [80.0, 80.2, 80.4], "token": [80.5, 80.6, 80.7], "structural": [86.9, 87.0, 87.1]}
    write_result(setup, harness.teacher_run(setup, spec, "nonprojective"), 88.0)
    for method, values in scores.items():
        for run, value in zip(harness.row_runs(setup, spec, "1b", method), values):
            write_result(setup, run, value)
    (setup.runs / "a-peer").mkdir()
    (setup.runs / "a-peer" / harness.RESULT).write_text(json.dumps({"peer": "not a run"}))
    results = harness.finished(setup)
    assert "a-peer" not in results and len(results) == 10
    checks = {row[1]: row[2] for row in harness.target_checks(setup, spec, results, speed_record(setup, spec, 10, 120))
              if row[0] == "1b"}
    keep, gold, token = (checks[t] for t in spec.targets)
    assert keep.startswith("met: 1.00 LAS below the teacher") and "12.0x its speed at batch 32" in keep
    assert gold.startswith("met: +6.80 test LAS over gold only")
    assert token.startswith("met: +6.40 test LAS over token-level KD")
    slow = harness.target_checks(setup, spec, results, speed_record(setup, spec, 10, 50))
    assert next(r[2] for r in slow if r[0] == "1b" and r[1] == spec.targets[0]).startswith("**missed**")
    # 2b has neither its teacher nor students: not measured, and saying what it waits for
    waiting = [r[2] for r in harness.target_checks(setup, spec, results, []) if r[0] == "2b"]
    assert all(w.startswith("not yet measured: waiting for the teacher") for w in waiting)
    # two seeds of three: checked, and the check says so
    (setup.runs / "1b-token+transfer-s2" / harness.RESULT).unlink()
    partial = {r[1]: r[2] for r in harness.target_checks(setup, spec, harness.finished(setup), []) if r[0] == "1b"}
    keep, gold, token = (partial[t] for t in spec.targets)
    assert token.endswith("(on the finished seeds only: token-level KD + transfer text 2 of 3 done)")
    assert gold.startswith("met: +6.80") and "finished seeds only" not in gold  # it does not compare token KD
    assert keep == "not yet measured: no speed measurement of these models yet"
    for run in harness.row_runs(setup, spec, "1b", "token")[:2]:  # a target waits only for the rows it compares
        (setup.runs / run.name / harness.RESULT).unlink()
    checks = {r[1]: r[2] for r in harness.target_checks(setup, spec, harness.finished(setup), []) if r[0] == "1b"}
    assert checks[spec.targets[2]].startswith("not yet measured: waiting for token-level KD")
    assert checks[spec.targets[1]].startswith("met: +6.80")


def test_report_without_results_says_what_is_missing(tmp_path):
    data = tmp_path / "data" / "UD_English-EWT"
    data.mkdir(parents=True)
    for split in ("train", "dev", "test"):  # the bundled UD sample under the corpus's file names
        (data / f"en_ewt-ud-{split}.conllu").symlink_to(DATA / "ud_en_ewt-ud-test.sample.conllu")
    (tmp_path / "data" / "unlabeled-web").mkdir()
    (tmp_path / "data" / "unlabeled-web" / "atis.txt").symlink_to(DATA / "atis.sample.txt")
    setup = harness.Setup(tmp_path / "data", tmp_path / "runs", 2, harness.TRANSFER, 3, 10, None, "cpu", (0.1,))
    assert harness.parse_args(parsing.SPEC, "", tmp_path / "report.md", []).discussion is None
    (tmp_path / "report-discussion.md").write_text("## What the rows mean\n")  # appended by default once it exists
    args = harness.parse_args(parsing.SPEC, "", tmp_path / "report.md", ["--note", "a test note"])
    harness.write_report(setup, parsing.SPEC, {}, [], args)
    report = (tmp_path / "report.md").read_text()
    assert "- note: a test note" in report and "n/a (0 of 2 seeds done)" in report
    assert report.rstrip().endswith("## What the rows mean")
    assert "## Labelled-fraction protocol" in report and "| 1b | 10% | not yet measured: structural KD 0 of 2 done" in report
    assert f"`unlabeled-web` ({len(read_text(DATA / 'atis.sample.txt')):,} sentences" in report
    assert "Not yet measured: no session has had a teacher and a KD student" in report and "## SuPar biaffine parser" in report


def sample_corpus(root: Path) -> Path:
    """The bundled UNER samples and Atis text under the file names ``ner.py`` expects of the corpus."""
    uner, text = root / "UNER_English-EWT", root / "unlabeled-web"
    uner.mkdir(parents=True)
    text.mkdir()
    (uner / "en_ewt-ud-train.prerelease.iob2").symlink_to(DATA / "uner_en_ewt-ud-train.prerelease.sample.iob2")
    for split in ("dev", "test"):
        (uner / f"en_ewt-ud-{split}.iob2").symlink_to(DATA / f"uner_en_ewt-ud-{split}.sample.iob2")
    (text / "atis.txt").symlink_to(DATA / "atis.sample.txt")
    return root


def test_parallel_workers_finish_runs_and_a_rerun_skips_them(tmp_path, capsys):
    data, runs, report = sample_corpus(tmp_path / "data"), tmp_path / "runs", tmp_path / "ner.md"
    argv = ["--data", str(data), "--runs", str(runs), "--results", str(report), "--seeds", "1", "--max-train", "20",
            "--student-epochs", "1", "--fractions", "--only", "gold-*", "--jobs", "2", "--no-speed", "--threads", "1"]
    old_argv = sys.argv
    sys.argv = [str(Path(ner.__file__)), *argv]  # the workers re-run this script
    try:
        ner.main(argv)
    finally:
        sys.argv = old_argv
    out = capsys.readouterr().out
    assert "gold-crf-s0: finished" in out and "gold-maxent-s0: finished" in out and "FAILED" not in out
    for name in ("gold-crf-s0", "gold-maxent-s0"):
        result = json.loads((runs / name / harness.RESULT).read_text())
        assert result["argv"][:2] == ["train", "ner"] and 0 <= result["test"]["f1"] <= 100
        assert (runs / f"{name}.log").read_text().count("best dev F1") == 1
    assert "| 1a | MiniLM + CRF -> BiLSTM + CRF | gold only |" in report.read_text()
    ner.main(argv[:-5] + ["--no-speed"])  # in this process now: both runs are done
    assert capsys.readouterr().out.count("done, skipped") == 2
    kept = tmp_path / "ner-runs"  # beside the report: results that survive the runs folder
    assert json.loads((kept / "gold-crf-s0.json").read_text()) == json.loads((runs / "gold-crf-s0" / harness.RESULT).read_text())
    shutil.rmtree(runs)  # another machine, a later session: the kept results are enough
    ner.main(argv[:-5] + ["--no-speed"])
    assert capsys.readouterr().out.count("done, skipped") == 2 and not (runs / "gold-crf-s0").exists()


def test_a_student_whose_teacher_model_is_gone_is_blocked_not_crashed(tmp_path, capsys):
    """Results brought back without their models (runs made on another machine) block their students."""
    setup, spec = setup_for(tmp_path), parsing.SPEC
    write_result(setup, harness.teacher_run(setup, spec, "sibling"), 88.0)
    student = harness.student_run(setup, spec, "2b", "structural", 0)
    state = harness.status(setup, spec, student, harness.finished(setup))
    assert state.startswith("blocked: its teacher's model") and str(tmp_path / "teacher-sibling") in state
    harness.train_all(setup, spec, [student], harness.parse_args(spec, "", tmp_path / "r.md", ["--quiet"]))
    assert "2b-structural+transfer-s0: skipped, its teacher's model" in capsys.readouterr().out
    assert not (setup.runs / student.name).exists()
    (setup.runs / "teacher-sibling" / "best").mkdir()
    assert harness.status(setup, spec, student, harness.finished(setup)) == "to do"


def test_triage_starts_students_of_ready_teachers_waits_for_running_ones_and_drops_failed_ones(tmp_path):
    setup, spec = setup_for(tmp_path), ner.SPEC
    crf, maxent, span = (harness.teacher_run(setup, spec, key) for key in ("crf", "maxent", "span"))
    write_result(setup, crf, 78.0)
    (setup.runs / crf.name / "best").mkdir()
    token = harness.student_run(setup, spec, "1a", "token", 0)
    students = [harness.student_run(setup, spec, scenario, "structural", 0) for scenario in ("1a", "3", "4")]
    assert [s.teacher for s in students] == [crf.name, maxent.name, span.name]
    todo = [maxent, token, *students]
    names = {run.name for run in [crf, span, *todo]}
    ready, blocked = harness.triage(setup, todo, names, harness.finished(setup), failed={span.name})
    assert ready == [maxent, token, students[0]]  # scenario 3 waits: its teacher is planned and not failed
    assert blocked == {students[2]: f"its teacher {span.name} is not finished"}


def test_a_lost_teacher_is_retrained_and_the_report_says_which_version_taught_each_student(tmp_path, capsys):
    """Seeds 0-1 learned from a teacher whose model is gone; it is trained again and teaches seed 2."""
    setup, spec = setup_for(tmp_path), parsing.SPEC
    teacher = harness.teacher_run(setup, spec, "nonprojective")
    write_result(setup, teacher, 88.0, finished="2026-01-01T10:00:00")
    (setup.runs / f"{teacher.name}.log").write_text("old log")
    scores = {"gold": [80.0, 80.2, 80.4], "token": [80.5, 80.6, 80.7], "structural": [86.9, 87.0, 87.1]}
    for method, values in scores.items():
        for seed, (run, value) in enumerate(zip(harness.row_runs(setup, spec, "1b", method), values)):
            if seed < 2 or method == "gold":
                write_result(setup, run, value, taught_by="2026-01-01T10:00:00" if run.teacher else None)
    speed = speed_record(setup, spec, 10, 120)
    speed[0]["models_finished"][teacher.name] = "2026-01-01T10:00:00"
    harness.replace_lost_teachers(setup, spec, harness.plan(setup, spec))
    replaced = setup.runs / harness.REPLACED / f"{teacher.name}-2026-01-01T10-00-00"
    assert "training again" in capsys.readouterr().out and (replaced / harness.RESULT).exists()
    assert (replaced / f"{teacher.name}.log").read_text() == "old log" and not (setup.runs / teacher.name).exists()
    assert teacher.name not in harness.finished(setup)
    write_result(setup, teacher, 86.0, finished="2026-02-01T10:00:00")  # the teacher, trained again
    (setup.runs / teacher.name / "best").mkdir()
    harness.replace_lost_teachers(setup, spec, harness.plan(setup, spec))  # it has its model: kept
    assert (setup.runs / teacher.name / harness.RESULT).exists()
    for method, value in (("token", 80.9), ("structural", 86.5)):
        write_result(setup, harness.row_runs(setup, spec, "1b", method)[2], value, taught_by="2026-02-01T10:00:00")
    planned = {run.name: run for run in harness.plan(setup, spec)}
    for name in set(timed_roles(setup, spec)) - set(harness.finished(setup)):  # the other timed models
        write_result(setup, planned[name], 85.0)
    results = harness.finished(setup)
    (setup.runs / harness.SPEED).write_text(json.dumps({"groups": speed}))
    assert harness.load_speed(setup, spec, results) == speed  # measured on the old version: same architecture
    versions = harness.teacher_versions(setup, spec, results)[teacher.name]
    assert [v["finished"] for v in versions] == ["2026-01-01T10:00:00", "2026-02-01T10:00:00"]
    taught = harness.taught(setup, spec, results)
    assert taught["1b-structural+transfer-s0"]["finished"] == "2026-01-01T10:00:00"
    assert taught["1b-structural+transfer-s2"]["test"]["las"] == 86.0

    teachers = "\n".join(harness.teacher_section(setup, spec, results))
    assert "| MiniLM first-order (tree CRF) (replaced, trained on CPU X, 2026-01-01T10:00:00) | 88.00 |" in teachers
    # students taught: seeds 0-1 of token and structural KD; seed 2 of both, and the timed 1a student, which has
    # no teacher record (made before runs kept one) and so counts as taught by the current version
    assert "2026-01-01T10:00:00) | 88.00 | 88.00 | 91.00 | 10.00 | 5.00 | 1,000 | 1 | 1 | 4 |" in teachers
    assert "2026-02-01T10:00:00) | 86.00 | 86.00 | 89.00 | 10.00 | 5.00 | 1,000 | 1 | 1 | 3 |" in teachers
    students = "\n".join(harness.student_section(setup, spec, results))
    assert "| 1b | MiniLM first-order (tree CRF) -> BiLSTM head selection | structural KD + transfer text § |" in students
    assert "1b-structural+transfer-s1: replaced; 1b-structural+transfer-s2: current." in students
    assert "| teacher-nonprojective (replaced version) | 100 | 10.0 | 10.0 |" in "\n".join(
        harness.speed_section(setup, spec, results, speed))
    keep = harness.target_checks(setup, spec, results, speed)[0][2]
    teacher_mean = statistics.mean([88.0, 88.0, 86.0])  # the versions that taught the three structural seeds
    assert f"{teacher_mean - statistics.mean([86.9, 87.0, 86.5]):.2f} LAS below the teacher" in keep

    with pytest.raises(SystemExit, match="neither"):  # a record naming a version nobody kept
        shutil.rmtree(replaced)
        harness.taught(setup, spec, harness.finished(setup))


def test_a_teacher_kept_without_its_run_folder_is_replaced_and_still_reported(tmp_path):
    setup = harness.Setup(DATA, tmp_path / "runs", 1, harness.TRANSFER, 3, 10, None, "cpu", (), tmp_path / "kept")
    teacher = harness.teacher_run(setup, parsing.SPEC, "local")
    write_result(setup, teacher, 88.0, finished="2026-01-01T10:00:00")
    setup.kept.mkdir()
    (setup.runs / teacher.name / harness.RESULT).rename(setup.kept / f"{teacher.name}.json")
    shutil.rmtree(setup.runs / teacher.name)  # only the kept result came back
    assert harness.finished(setup)[teacher.name]["dev"]["las"] == 88.0
    assert harness.status(setup, parsing.SPEC, harness.student_run(setup, parsing.SPEC, "2b", "gold", 0),
                          harness.finished(setup)) == "to do"
    harness.replace_lost_teachers(setup, parsing.SPEC, harness.plan(setup, parsing.SPEC))
    assert teacher.name not in harness.finished(setup)
    assert (setup.kept / harness.REPLACED / f"{teacher.name}-2026-01-01T10-00-00.json").exists()
    versions = harness.teacher_versions(setup, parsing.SPEC, harness.finished(setup))[teacher.name]
    assert [v["finished"] for v in versions] == ["2026-01-01T10:00:00"]  # once, though kept in both places


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory) -> Path:
    """The model folder of a tiny BiLSTM tagger trained 1 epoch on 20 sample sentences."""
    run = tmp_path_factory.mktemp("tiny") / "run"
    assert cli(["train", "ner", "--train", str(DATA / "uner_en_ewt-ud-train.prerelease.sample.iob2"),
                "--dev", str(DATA / "uner_en_ewt-ud-dev.sample.iob2"), "--max-sentences", "20", "--epochs", "1",
                "--encoder", "bilstm", "--hidden", "16", "--layers", "1", "--word-dim", "16", "--char", "none",
                "--output", str(run), "--quiet"]) == 0
    return run / "best"


def test_speed_groups_pair_what_each_session_had_and_ratios_come_from_the_group_that_pairs_them(tmp_path,
                                                                                                  tiny_tagger):
    """The speed step end to end over two sessions: one small trained tagger stands in for each timed model (the
    step times whatever each run's ``best/`` holds).  The first session has the CRF teacher and a token-KD CRF
    student (standing in for its architecture); the second, whose machine lost those models, the MaxEnt teacher
    and a structural-KD CRF student."""
    data = sample_corpus(tmp_path / "data")
    setup = harness.Setup(data, tmp_path / "runs", 2, harness.TRANSFER, 1, 1, 20, "cpu", (), tmp_path / "kept")
    spec = ner.SPEC
    planned = {run.name: run for run in harness.plan(setup, spec)}

    def session(names):
        for name in names:
            if name not in harness.finished(setup):
                write_result(setup, planned[name], 50.0)
            (setup.runs / name / "best").symlink_to(tiny_tagger)
        return harness.update_speed(setup, spec, threads=1, remeasure=False, sentences=6)

    assert session(["gold-crf-s0"]) == []  # no teacher: nothing to pair, nothing timed
    first = session(["teacher-crf", "1a-token+transfer-s1"])
    assert len(first) == 1 and first[0]["roles"] == {"teacher-crf": "teacher:crf", "1a-token+transfer-s1": "student:crf"}
    assert first[0]["sentences"] == 6 and all(row["speed_32"] > 0 and row["speed_1"] > 0
                                               for row in first[0]["models"].values())
    assert harness.update_speed(setup, spec, 1, False, 6) == first  # nothing new to pair: not timed again
    for name in ("teacher-crf", "1a-token+transfer-s1", "gold-crf-s0"):  # the next session's machine
        (setup.runs / name / "best").unlink()
    groups = session(["teacher-maxent", "1a-structural+transfer-s0"])
    assert groups == json.loads((setup.kept / harness.SPEED).read_text())["groups"] == harness.load_speed(setup, spec)
    assert [harness.scenario_pairs(spec, group["roles"]) for group in groups] == [{"1a"}, {"3"}]
    section = "\n".join(harness.speed_section(setup, spec, harness.finished(setup), groups))
    assert "| BiLSTM + CRF | 1a-token+transfer-s1 |" in section and "| BiLSTM + CRF | 1a-structural+transfer-s0 |" in section
    assert "| 1a | MiniLM + CRF -> BiLSTM + CRF | 1.0x |" in section and f"{groups[0]['date']} |" in section
    assert "| 2a | MiniLM + CRF -> BiLSTM + MaxEnt | not yet measured |" in section
    assert harness._ratios(spec, groups, "3")["date"] == groups[1]["date"]


def test_model_speed_times_folders_in_one_process_with_ratios_to_the_first(tmp_path, tiny_tagger, capsys):
    results = tmp_path / "speed.md"
    measured = model_speed.main(["ner", f"teacher={tiny_tagger}", str(tiny_tagger), "--data",
                                 str(DATA / "uner_en_ewt-ud-test.sample.iob2"), "--sentences", "5", "--threads", "1",
                                 "--results", str(results)])
    assert list(measured["models"]) == ["teacher", str(tiny_tagger)] and measured["sentences"] == 5
    assert all(row["speed_32"] > 0 and row["speed_1"] > 0 for row in measured["models"].values())
    printed = capsys.readouterr().out
    assert printed.strip() in results.read_text() and "1 threads" in printed
    first = next(line for line in printed.splitlines() if line.startswith("| teacher |"))
    assert first.startswith(f"| teacher | {tiny_tagger} | {measured['models']['teacher']['parameters']:,} |")
    assert first.endswith("| 1.00x | 1.00x | 1.00x |")  # the reference against itself
    with pytest.raises(SystemExit):
        model_speed.main(["pos", str(tiny_tagger), "--data", "x"])


def test_student_size_benchmark_trains_times_and_reports_smaller_students(tmp_path, tiny_tagger):
    """End to end on the samples: a tiny tagger stands in for the benchmark's teacher and default student."""
    data, runs = sample_corpus(tmp_path / "data"), tmp_path / "runs"
    setup = harness.Setup(data, runs, 1, harness.TRANSFER, 1, 1, 20, "cpu")
    for run in (harness.teacher_run(setup, ner.SPEC, "crf"),
                harness.student_run(setup, ner.SPEC, "1a", "structural", 0)):
        write_result(setup, run, 50.0)  # parsing-style scores: give them NER ones
        result = json.loads((runs / run.name / harness.RESULT).read_text())
        result["dev"] = result["test"] = {"f1": 70.0 if run.teacher is None else 60.0}
        (runs / run.name / harness.RESULT).write_text(json.dumps(result))
        (runs / run.name / "best").symlink_to(tiny_tagger)
    default = harness.student_run(setup, ner.SPEC, "1a", "structural", 0).name  # its result kept by the benchmark
    (tmp_path / "benchmark-kept").mkdir()
    (runs / default / harness.RESULT).rename(tmp_path / "benchmark-kept" / f"{default}.json")
    report, kept = tmp_path / "size.md", tmp_path / "kept"
    argv = ["--data", str(data), "--runs", str(runs), "--results", str(report), "--kept", str(kept), "--seeds", "1",
            "--benchmark-kept", str(tmp_path / "benchmark-kept"), "--discussion", str(tmp_path / "none.md"),
            "--max-train", "20", "--student-epochs", "1", "--speed-sentences", "4", "--rounds", "2", "--threads", "1"]
    ner_student_size.main(argv + ["--no-speed"])
    assert "Not measured yet" in report.read_text() and not (runs / ner_student_size.SPEED).exists()
    ner_student_size.main(argv)
    text = report.read_text()
    for size in ner_student_size.SIZES:
        result = json.loads((runs / f"size-{size}-s0" / harness.RESULT).read_text())
        assert result["teacher"]["name"] == "teacher-crf" and "--student-layers" in result["argv"]
        assert json.loads((kept / f"size-{size}-s0.json").read_text()) == result  # kept for later sessions
        assert f"| size-{size}-s* |" in text
    assert (runs / "cache" / "teacher-crf-crf-structural-first20").is_dir()  # the benchmark's cache: every size and seed
    assert "| MiniLM + CRF teacher | teacher-crf |  | 70.00 | 70.00 | 1 |" in text and "## Size and speed" in text
    assert f"| {ner_student_size.DEFAULT} | 1a-structural+transfer-s* |  | 60.00 | 60.00 | 1 |" in text
    speed = json.loads((kept / ner_student_size.SPEED).read_text())
    assert list(speed["samples"]) == ["MiniLM + CRF teacher", ner_student_size.DEFAULT,
                                      *(label for label, _ in ner_student_size.SIZES.values())]
    assert all(len(by_batch["1"]) == 2 for by_batch in speed["samples"].values())  # one value per round
    assert text.count("| 1.0x (1.0-1.0) | 1.0x (1.0-1.0) |  |") == 1  # the teacher against itself
    f1 = json.loads((kept / "size-1x128-s0.json").read_text())["test"]["f1"]
    assert f"within 1 of the 1 x 128 student's ({f1:.2f}; 1 of 1 seeds):" in text
    assert text.count(": **met**") + text.count(": missed") == 3  # a verdict for each timed student
    ner_student_size.main(argv)  # the same models: not timed again
    assert json.loads((kept / ner_student_size.SPEED).read_text()) == speed
    (runs / ner_student_size.SPEED).unlink()
    ner_student_size.main(argv + ["--report-only"])  # the kept speed serves the report
    assert report.read_text().split("\n")[3:] == text.split("\n")[3:]


def test_recipe_sweep_rows_and_report(tmp_path):
    import recipe_sweep

    rows = recipe_sweep.rows("TEACHER", DATA, tmp_path)
    names = [name for name, _, _ in rows]
    assert len(names) == len(set(names)) and "gold-glove" in names
    by_name = {name: argv for name, _, argv in rows}
    assert by_name["gold-glove"][by_name["gold-glove"].index("--word-vectors") + 1] == "glove"
    web = by_name["1a-structural+web"]
    assert web[web.index("--teacher-cache") + 1] == by_name["1a-structural-gold10"][
        by_name["1a-structural-gold10"].index("--teacher-cache") + 1]  # one labelling of the web text for both
    (tmp_path / "gold-glove").mkdir()
    (tmp_path / "gold-glove" / "summary.json").write_text(json.dumps({"score": 74.5, "epoch": 6, "seconds": 600,
                                                                      "train_seconds": 480}))
    (tmp_path / "gold-none").mkdir()  # a summary from before the epochs logged their time
    (tmp_path / "gold-none" / "summary.json").write_text(json.dumps({"score": 63.0, "epoch": 6, "seconds": 600}))
    lines = recipe_sweep.report(tmp_path, rows, "cmd")
    assert "| gold-glove | gold only, GloVe 6B 50-d (the recipe) | 74.50 | n/a (not evaluated) | 6 | 8 |" in lines
    assert any(line.startswith("| gold-none |") and line.endswith("| 6 | 10\\* |") for line in lines)
    assert sum("n/a (not run yet)" in line for line in lines) == len(rows) - 2


def test_wid_benchmark_rows_and_a_report_from_kept_results(tmp_path, capsys):
    import wid

    setup = harness.Setup(tmp_path / "data", tmp_path / "runs", 2, harness.TRANSFER, 3, 3, None, "cpu", ())
    runs = wid.plan(setup, "ner")
    assert len(runs) == 2 * len(wid.SHAPES) * len(wid.ROWS) and len({r.name for r in runs}) == len(runs)
    first = runs[0]
    assert first.name == "wid-3x192-head-wid-structural+transfer-s0" and first.teacher == "teacher-crf"
    argv = list(first.argv)
    assert option(argv, "--student-encoder") == "wid" and option(argv, "--student-hidden") == "192"
    assert option(argv, "--transfer") == str(tmp_path / "data" / "unlabeled-web")
    # the task benchmark's cache of the same teacher, student factorization and objective
    benchmark = harness.student_run(setup, ner.SPEC, "1a", "structural", 0)
    assert option(argv, "--teacher-cache") == option(benchmark.argv, "--teacher-cache")
    gold = next(r for r in runs if r.name == "wid-2x256-wid-gold-s1")
    assert "--lam" not in gold.argv and option(gold.argv, "--wid-strategy") == "head"
    assert wid.shape_name((3, 192, "head")) == "3x192-head" and wid.shape_name((2, 256, "head")) == "2x256"
    parser_row = wid.plan(setup, "dep")[0]
    assert parser_row.teacher == "teacher-nonprojective" and "head-selection" in parser_row.argv

    kept = tmp_path / "kept"
    (kept / "ner").mkdir(parents=True)

    def result(name, f1):
        record = {"name": name, "dev": {"f1": f1 - 1}, "test": {"f1": f1}, "parameters": 1000,
                  "machine": "test CPU"}
        (kept / "ner" / f"{name}.json").write_text(json.dumps(record))

    result("teacher-crf", 80.0)
    for seed, (w, s) in enumerate([(79.0, 75.0), (79.4, 75.2)]):
        result(f"wid-3x192-head-wid-structural+transfer-s{seed}", w)
        result(f"wid-3x192-head-sliced-structural+transfer-s{seed}", s)
    result("wid-3x192-wid-structural-s0", 66.3)  # a row of an earlier plan
    speed = {"models": {"teacher": {"parameters": 9, "speed_32": 10.0, "speed_1": 2.0, "description": "teacher"},
                        "3x192-head": {"parameters": 3, "speed_32": 60.0, "speed_1": 8.0, "description": "3 x 192"}},
             "date": "today", "machine": "test CPU", "code": "git x", "sentences": 400, "other_load": 0.0}
    # one runs folder for both tasks (--runs): a NER row's run there has the name of a parsing row, no LAS
    shared = tmp_path / "runs" / "wid-3x192-head-wid-structural+transfer-s0"
    shared.mkdir(parents=True)
    (shared / harness.RESULT).write_text(json.dumps({"name": shared.name, "dev": {"f1": 1.0}, "test": {"f1": 1.0}}))
    args = wid.parse_args(["--kept", str(kept), "--results", str(tmp_path / "wid.md"), "--seeds", "2",
                           "--discussion", str(tmp_path / "none.md"), "--runs", str(tmp_path / "runs")])
    wid.speed_path(wid.task_setup(args, "ner")).write_text(json.dumps(speed))
    wid.write_report(args)
    report = (tmp_path / "wid.md").read_text()
    assert "| 3x192-head | WID | structural KD | 78.20 ± 0.28 | 79.20 ± 0.28 | 99.0% | 1,000 |" in report
    assert "| 3x192-head | WID | gold only | not run | not run |" in report
    assert "| wid-3x192-wid-structural-s0 | 65.30 | 66.30 | 1,000 |" in report  # never dropped silently
    assert "3x192-head: met on accuracy and speed: WID + structural KD at 79.20 (keeps the accuracy target), 6.0x" in report
    assert "beats the sliced baseline (+4.10, seed deviation 0.28)" in report
    assert "2x256: not measured (no WID row has run); speed not measured" in report
    assert "The teacher is not trained yet" in report  # parsing
    assert "| 3 x 192 | 3 | 60.0 | 8.0 | 6.00 | 4.00 |" in report
    (tmp_path / "runs" / "wid-3x192-head-wid-gold-s0" / "checkpoint").mkdir(parents=True)
    wid.main(["--task", "ner", "--list", "--kept", str(kept), "--seeds", "2", "--runs", str(tmp_path / "runs")])
    listing = {line.split()[1]: line.split(maxsplit=2)[2] for line in capsys.readouterr().out.splitlines()
               if line.startswith("ner wid-")}
    assert listing["wid-3x192-head-sliced-structural+transfer-s1"].startswith("done: dev F1 74.20, test 75.20")
    assert listing["wid-3x192-head-wid-gold-s0"] == "interrupted: will resume from its checkpoint"
    assert listing["wid-3x192-head-wid-token+transfer-s0"].startswith("blocked: its teacher's model")  # only kept


def test_latency_report_checks_the_targets_and_a_missing_teacher_is_reported(tmp_path):
    import latency
    assert latency.measure("dep", DATA, tmp_path, 5, 1, 1) is None  # no trained teacher under tmp_path/runs
    assert "Not measured" in "\n".join(latency.report("dep", None))
    teacher, fast, slow = "MiniLM teacher (ner-bench)", "fast student", "slow student"
    measured = {"machine": "m", "date": "d", "code": "c", "sentences": 5, "rounds": 3, "other_load": 0.0,
                "parameters": {teacher: 100, fast: 10, slow: 10},
                "speeds": {teacher: {"32": 10.0, "1": 10.0}, fast: {"32": 150.0, "1": 100.0},
                           slow: {"32": 150.0, "1": 99.0}},
                "samples": {teacher: {"32": [10.0, 10.0, 20.0], "1": [10.0, 10.0, 10.0]},
                            fast: {"32": [150.0, 150.0, 150.0], "1": [100.0, 90.0, 120.0]},
                            slow: {"32": [150.0, 150.0, 150.0], "1": [99.0, 99.0, 99.0]}},
                "profiles": {fast: {"total": 2.0, "  LSTM": 1.0}, slow: {"total": 4.0}}}
    lines = latency.report("ner", measured)
    row = {line.split(" | ")[0].lstrip("| "): line for line in lines if line.startswith("| ")}
    assert row[fast].endswith("| 15.0x (7.5-15.0) | 10.0x (9.0-12.0) | yes |")  # medians of the rounds' ratios
    assert row[slow].endswith("| 15.0x (7.5-15.0) | 9.9x (9.9-9.9) | **no** |")
    assert row["- LSTM"].endswith("| 1.00 s (50%) | — |")


def test_matrix_tree_rows_show_each_librarys_error_on_peaked_scores():
    """Table 2b's accuracy columns, computed for real on 6-word sentences: ours stays exact at scale 50."""
    import objective_speed
    peers = objective_speed.load_peers()
    accuracy = objective_speed.peaked_accuracy(6, torch.float64, peers)
    assert set(accuracy["errors"]) == set(objective_speed.PEAKED_SCALES)
    assert all(errors["structkd"] < 1e-9 for errors in accuracy["errors"].values())
    assert accuracy["refused"][1.0] == 0 and accuracy["refused"][50.0] > 0
    row = {"size": "n=6 float64", "ms": {"structkd": 1.0, "torch-struct": 2.0}, **accuracy}
    line = objective_speed.matrix_tree_table([row], {**peers, "SuPar": None})[-1]
    assert line.startswith("| n=6 float64 | 1.00 | 2.00 | 0.50x | yes |")


def test_kd_method_benchmarks_rows_and_verdicts_from_kept_results(tmp_path):
    import divergences
    import interactive

    ner_task = divergences.TASKS["ner"]
    names = [name for name, _, _ in divergences.rows(ner_task, 3)]
    assert len(names) == len(set(names)) == 16 and names[-1] == "ner-kl-s0"  # KL: one seed, last
    argv = divergences.argv(ner_task, "rkl", 1, DATA, tmp_path, "1", ["--interactive"])
    assert argv[:3] == ["distill", "ner", "--interactive"] and option(argv, "--gold-fraction") == "0.1"

    def record(task, objective, seed, test, finished="2026-12-01T00:00:00"):
        return {"name": f"{task}-{objective}-s{seed}", "task": task, "objective": objective, "seed": seed,
                "dev": test, "test": test, "epoch": 10, "epochs_run": 10, "train_minutes": 5.0, "machine": "M",
                "teacher": {"name": divergences.TASKS[task].teacher, "finished": finished}}

    results = {r["name"]: r for r in [record("ner", "structural", s, t) for s, t in enumerate((70.0, 71.0, 72.0))]
               + [record("ner", "js", s, t) for s, t in enumerate((74.0, 75.0, 76.0))]}
    lines = divergences.report(results, 3, "cmd")
    assert any("met so far (provisional: not every row has all 3 seeds): the best divergence with 2+ seeds by test mean, "
               "JS (exact upper bound), +4.00 F1" in line for line in lines)
    assert any(line.startswith("| TV (exact upper bound) | not run |") for line in lines)
    ikd = {"ner-ikd-head-s0": dict(record("ner", "ikd-head", 0, 71.5), train_minutes=20.0),
           "ner-ikd-head-s1": record("ner", "ikd-head", 1, 70.5)}
    lines = interactive.report(ikd, results, 3, "cmd", tmp_path)
    scorer, whole = (f"Target (IKD beats structural KD by more than the seed deviation), {interactive.VARIANTS[v][0]}"
                     for v in ("ikd-head", "ikd-all"))
    assert any(line.startswith(f"- {scorer}: **missed**: ") and line.endswith(
        "0.00 F1 (seed deviation 1.00, provisional: 2 and 3 of 3 seeds).") for line in lines)
    assert f"- {whole}: not measured yet (needs 2+ seeds of each)." in lines
    both = {**ikd, **{f"ner-ikd-all-s{s}": record("ner", "ikd-all", s, t) for s, t in enumerate((73.0, 74.0, 75.0))}}
    assert f"- {whole}: met: +3.00 F1 (seed deviation 1.00)." in interactive.report(both, results, 3, "cmd", tmp_path)
    assert any("| IKD, the teacher's scorer adapting (exact exam every 4 steps) | 71.00 ± 0.71 (2 seeds) | "
               "71.00 ± 0.71 (2 seeds) | 1.2 |" in line for line in lines)  # (20 + 5) minutes / 20 epochs
    # a record without its epoch count or run log: the budget's (best epoch 6 + patience 3 = 9 of 10; 8 -> 10)
    bare = {key: value for key, value in record("ner", "none", 0, 60.0).items() if key != "epochs_run"}
    assert interactive.per_epoch(dict(bare, epoch=6), tmp_path) == 5.0 / 9
    assert interactive.per_epoch(dict(bare, epoch=8), tmp_path) == 5.0 / 10
    # IKD rows of a teacher trained again: the structural-KD rows of the old version are not compared; this
    # benchmark's own rows of the new version are
    later = "2026-12-07T00:00:00"
    ikd = {name: dict(r, teacher=dict(r["teacher"], finished=later)) for name, r in ikd.items()}
    lines = interactive.report(ikd, results, 3, "cmd", tmp_path)
    assert any(line.startswith("| structural KD (teacher frozen) | not run |") for line in lines)
    assert any("not measured yet" in line for line in lines)
    own = {**ikd, **{f"ner-frozen-s{s}": dict(record("ner", "structural", s, t, later), name=f"ner-frozen-s{s}")
                     for s, t in enumerate((69.0, 70.0))}}
    lines = interactive.report(own, results, 3, "cmd", tmp_path)
    assert any(line.startswith("| structural KD (teacher frozen) | 69.50 ± 0.71 (2 seeds) |") for line in lines)
    assert any(f"Teacher: `ner-bench/teacher-crf`, trained {later}" in line for line in lines)
    with pytest.raises(SystemExit, match="different teacher versions"):
        interactive.report({**own, "ner-ikd-head-s2": record("ner", "ikd-head", 2, 70.0)}, results, 3, "cmd", tmp_path)


def test_the_supar_section_falls_back_on_the_kept_result_when_the_runs_folder_lacks_it(tmp_path):
    """A fresh runs folder still reports SuPar's kept result (benchmarks/results/supar-biaffine.json), whose timed
    structkd parser folder is long gone: its structure comes from the folder's path."""
    section = "\n".join(parsing.supar_section(setup_for(tmp_path)))
    kept = json.loads(parsing.SUPAR_KEPT.read_text())
    assert "Not run yet" not in section and f"{kept['scores']['test']['las']:.2f}" in section
    assert "structkd BiLSTM head-selection" in section and "need not be a tree" in section


def test_a_smoke_run_on_the_first_sentences_labels_into_its_own_cache(tmp_path):
    full = setup_for(tmp_path)
    smoke = harness.Setup(DATA, tmp_path, 3, harness.TRANSFER, 3, 10, 64, "cpu")
    caches = [option(harness.student_run(setup, ner.SPEC, "1a", "structural", 0).argv, "--teacher-cache")
              for setup in (full, smoke)]
    assert caches[0] == str(tmp_path / "cache" / "teacher-crf-crf-structural")
    assert caches[1] == caches[0] + "-first64"
