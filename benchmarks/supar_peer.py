"""SuPar's biaffine dependency parser on UD English-EWT: the published peer of structkd's parsers, on CPU.

Trains SuPar 1.1.4's ``BiaffineDependencyParser`` (Dozat & Manning, 2017) with its default BiLSTM encoder
through SuPar's Python API, then measures its dev/test UAS and LAS (SuPar's own evaluation), its parameter
count and its CPU decoding speed (sentences per second at batch 32 and batch 1, the test sentences), and
writes them to ``result.json`` in ``--output``.  The settings are :data:`BUILD` and :data:`TRAIN`.

The encoder gets no pretrained word embeddings (SuPar's recipe adds GloVe, which would have to be
downloaded): its inputs are word embeddings learnt from the train split plus CharLSTM features, so its
scores are those of SuPar's architecture trained from scratch, not of SuPar's released English model.

Setup: ``pip install --no-deps supar==1.1.4`` plus ``pip install nltk dill``, all the BiLSTM parser needs
(stanza is only for tokenising raw text, transformers only for BERT encoders; neither is imported here).

Usage::

    python benchmarks/supar_peer.py --data ../shared/data --output /root/structkd-runs/supar \\
        --epochs 10 --seed 0                                   # full run (resumable; skips a finished model)
    python benchmarks/supar_peer.py --data ../shared/data --output /tmp/supar-smoke \\
        --max-train 200 --epochs 1                             # smoke run

When other processes keep cores busy, train with ``OMP_WAIT_POLICY=PASSIVE`` in the environment: with
torch's default (spinning) OpenMP threads, 2 threads on a 2-core machine with one core taken ran SuPar's
training about 40x slower than 1 thread; on an idle machine the passive policy costs about 30%.  So time
on an idle machine without it: running the command again on a finished run only evaluates and measures.
``result.json`` records the policy and, next to the speeds, the average number of cores other processes
kept busy while they were measured (``other_load``); speeds are comparable only when it is near 0.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Iterator, Sequence
from unittest import mock

import torch
from supar import BiaffineDependencyParser
from supar.utils.transform import Batch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from objective_speed import cpu_seconds, other_load  # noqa: E402  (sibling benchmark)
from parsers.task import ParsingTask  # noqa: E402
from structkd.data import read_conllu_trees  # noqa: E402
from structkd.persistence import load as load_structkd  # noqa: E402
from structkd.throughput import size_and_speed  # noqa: E402

#: ``BiaffineDependencyParser.build`` settings: SuPar's default BiLSTM encoder (3 layers of 400 per direction
#: over 100-d word embeddings (words seen twice or more in train) and 100-d CharLSTM features (50-d
#: characters, 100-d hidden state, words cut at 20 characters)), arc MLP 500, label MLP 100, dropout 0.33
#: everywhere, no pretrained embeddings.  The optimiser settings have no default in SuPar's Python API; they
#: are the values of SuPar's configuration for its English biaffine model (those of Dozat & Manning, 2017):
#: Adam (lr 2e-3, betas 0.9/0.9, eps 1e-12), learning rate times 0.75 every 5000 steps.
BUILD = {"encoder": "lstm", "feat": ["char"], "embed": None, "min_freq": 2, "fix_len": 20,
         "n_embed": 100, "n_char_embed": 50, "n_char_hidden": 100, "n_feat_embed": 100, "embed_dropout": 0.33,
         "n_lstm_hidden": 400, "n_lstm_layers": 3, "encoder_dropout": 0.33,
         "n_arc_mlp": 500, "n_rel_mlp": 100, "mlp_dropout": 0.33,
         "lr": 2e-3, "mu": 0.9, "nu": 0.9, "eps": 1e-12, "weight_decay": 0, "decay": 0.75, "decay_steps": 5000}
#: ``BiaffineDependencyParser.train`` settings: SuPar's defaults (32 length buckets, gradient norm clipped at
#: 5, punctuation left out of the dev scores, no tree constraint while training), except two that give it the
#: budget of structkd's BiLSTM students: batches of about 500 tokens (SuPar's default is 5000), about the 32
#: sentences of the students' batches, so that an epoch makes about as many updates (some 400 rather than
#: 53), and patience 3 (SuPar's is 100): stop after 3 epochs without a better dev LAS.
TRAIN = {"batch_size": 500, "buckets": 32, "update_steps": 1, "clip": 5.0, "patience": 3,
         "punct": False, "tree": False, "proj": False, "partial": False}
#: ``BiaffineDependencyParser.evaluate``/decoding settings: SuPar's defaults (well-formed, possibly
#: non-projective trees: Chu-Liu/Edmonds on the sentences whose greedy heads are not a tree; punctuation,
#: the tokens made of Unicode punctuation characters only, left out of UAS and LAS).
EVALUATE = {"tree": True, "proj": False, "punct": False}

MODEL, CHECKPOINT, RUN, TRAINED, RESULT = "model.pt", "checkpoint.pt", "run.json", "train.json", "result.json"
SPLITS = ("train", "dev", "test")


def load(path: str | os.PathLike, **kwargs) -> BiaffineDependencyParser:
    """``BiaffineDependencyParser.load`` of a file this module wrote.

    SuPar's files pickle whole objects (the data fields, the settings), and SuPar calls ``torch.load``
    without ``weights_only``, which torch >= 2.6 takes as ``True``; ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` turns
    that off for this call only.  Only files this module wrote are loaded this way."""
    with trusted_pickles():
        return BiaffineDependencyParser.load(str(path), **kwargs)


@contextlib.contextmanager
def trusted_pickles() -> Iterator[None]:
    """A context in which ``torch.load`` unpickles whole objects unless its caller asks otherwise."""
    with mock.patch.dict(os.environ, {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
        yield


# ----------------------------------------------------------------------------- training
def train(train_file: str | os.PathLike, dev_file: str | os.PathLike, output_dir: str | os.PathLike,
          epochs: int, seed: int, threads: int) -> Path:
    """Train the parser (:data:`BUILD`, :data:`TRAIN`) for at most ``epochs`` epochs; the model's path.

    The model kept is that of the epoch with the best dev LAS.  SuPar's training loop also scores a "test"
    file every epoch; it is given ``dev_file`` there, so that no test sentence is seen before the end.
    SuPar writes a checkpoint (``checkpoint.pt``) at every dev improvement; a run that finds one resumes
    from it (the epochs after the last improvement are run again), and a run that finds the finished
    ``model.pt`` returns at once.  ``train.json`` records the best epoch, the epochs run and SuPar's sum of
    epoch times.  SuPar trains on a GPU whenever torch sees one (the command line hides them: it runs on
    CPU).  Raises ValueError when ``output_dir`` holds a run started with other settings."""
    output_dir = Path(output_dir)
    model, checkpoint = output_dir / MODEL, output_dir / CHECKPOINT
    check_run(output_dir, {"train": str(Path(train_file).resolve()), "dev": str(Path(dev_file).resolve()),
                           "epochs": epochs, "seed": seed, "build": BUILD, "train_settings": TRAIN})
    if model.exists():
        print(f"{model}: finished, training skipped", flush=True)
        return model
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    if checkpoint.exists():
        print(f"{checkpoint}: resuming", flush=True)
        parser = load(checkpoint, checkpoint=True)
    else:
        parser = BiaffineDependencyParser.build(str(checkpoint), train=str(train_file), build=True,
                                                checkpoint=False, **BUILD)
    state = finish(parser, checkpoint, epochs)
    if state is None:
        with trusted_pickles():  # the end of SuPar's training loop reloads the best checkpoint
            parser.train(str(train_file), str(dev_file), str(dev_file), epochs=epochs, **TRAIN)
        state = vars(parser)
    record = {"best_epoch": state["best_e"], "epochs_run": state["epoch"] - 1,
              "epoch_seconds": state["elapsed"].total_seconds()}
    (output_dir / TRAINED).write_text(json.dumps(record, indent=2))
    checkpoint.replace(model)
    return model


def check_run(output_dir: Path, settings: dict) -> None:
    """Record the settings of the run in ``output_dir``, or check them against those recorded there."""
    path = output_dir / RUN
    if path.exists():
        recorded = json.loads(path.read_text())
        differing = [f"{key} {recorded.get(key)!r} there, {value!r} here" for key, value in settings.items()
                     if recorded.get(key) != value]
        if differing:
            raise ValueError(f"{output_dir} holds a run with other settings ({path}): {'; '.join(differing)}")
        return
    if any((output_dir / name).exists() for name in (MODEL, CHECKPOINT)):
        raise ValueError(f"{output_dir} holds a model but no {RUN}: the settings it was trained with are unknown")
    output_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2))


def finish(parser: BiaffineDependencyParser, checkpoint: Path, epochs: int) -> dict | None:
    """The checkpoint's training state if its last epoch is the last one, saved as the final model then.

    Covers a run stopped between SuPar's last checkpoint and its final save (SuPar's loop fails when it
    has no epoch left to run); None otherwise."""
    state = getattr(parser, "checkpoint_state_dict", None)
    if not state or state["epoch"] <= epochs:
        return None
    parser.save(str(checkpoint))
    return state


def first_sentences(conllu: Path, n: int, folder: Path) -> Path:
    """A CoNLL-U file in ``folder`` with the first ``n`` sentences of ``conllu``."""
    blocks = [block for block in conllu.read_text(encoding="utf-8").split("\n\n") if block.strip()]
    path = folder / f"{conllu.stem}.first{n}.conllu"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(blocks[:n]) + "\n\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- measuring
def evaluate(model_path: str | os.PathLike, test_file: str | os.PathLike) -> dict:
    """UAS and LAS (percent) of the model on a CoNLL-U file, by SuPar's own evaluation (:data:`EVALUATE`)."""
    _, metric = load(model_path).evaluate(str(test_file), verbose=False, **EVALUATE)
    return {"uas": 100 * metric.uas, "las": 100 * metric.las}


def measure(model_path: str | os.PathLike, sentences: Sequence[Sequence[str]],
            batch_sizes: Sequence[int] = (32, 1)) -> dict:
    """Parameters and CPU sentences per second (``speed_<batch size>``) of the model on ``sentences``.

    SuPar's ``batch_size`` counts tokens (its sampler splits each length bucket into chunks of about that
    many tokens), and its ``predict`` reorders sentences by length bucket; to compare with decoders that
    take a number of sentences, the batches here are built directly: ``batch_size`` consecutive sentences
    each, in the order given, numericalised and padded by SuPar's own fields (``Batch``) before the clock
    starts.  The timed region is, per batch, what SuPar's ``predict`` does with a batch: the model's
    forward pass and decoding (:data:`EVALUATE`: tree-constrained) down to per-sentence lists of heads and
    relation labels, in eval mode without grad, after one warm-up batch.  SuPar's CoNLL text handling,
    numericalisation and padding are not timed (structkd's parsers map words to indices inside their timed
    ``decode``; for SuPar at batch 32 that step took about 3% of the decoding time, 0.4 s against 15 s)."""
    parser = load(model_path)
    parser.model.eval()
    speeds = {f"speed_{size}": sentences_per_second(parser, batches(parser, sentences, size))
              for size in batch_sizes}
    return {"parameters": sum(p.numel() for p in parser.model.parameters()), **speeds}


def batches(parser: BiaffineDependencyParser, sentences: Sequence[Sequence[str]], size: int) -> list[Batch]:
    """``sentences`` as SuPar batches of ``size`` consecutive sentences (input fields only)."""
    parser.transform.eval()
    data = parser.transform.load([list(words) for words in sentences])
    parser.transform(data)
    return [Batch(data[start:start + size]) for start in range(0, len(data), size)]


@torch.no_grad()
def decode(parser: BiaffineDependencyParser, batch: Batch) -> tuple[list[list[int]], list[list[str]]]:
    """Heads (1-based, 0 = root) and relation labels of every sentence of ``batch``, as SuPar predicts them."""
    words, _, *feats = batch
    mask = words.ne(parser.args.pad_index)
    mask[:, 0] = False  # the root token
    s_arc, s_rel = parser.model(words, feats)
    arcs, rels = parser.model.decode(s_arc, s_rel, mask, EVALUATE["tree"], EVALUATE["proj"])
    lengths = mask.sum(1).tolist()
    return ([heads.tolist() for heads in arcs[mask].split(lengths)],
            [parser.REL.vocab[labels.tolist()] for labels in rels[mask].split(lengths)])


def sentences_per_second(parser: BiaffineDependencyParser, prebuilt: Sequence[Batch]) -> float:
    """Sentences per second decoding ``prebuilt`` (see :func:`measure`), after one warm-up batch."""
    decode(parser, prebuilt[0])
    start = time.perf_counter()
    for batch in prebuilt:
        decode(parser, batch)
    return sum(len(batch.sentences) for batch in prebuilt) / (time.perf_counter() - start)


# ----------------------------------------------------------------------------- command line
def machine(threads: int) -> str:
    """The CPU, torch version, threads and OpenMP wait policy the numbers come from."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    return (f"{cpu}, {len(os.sched_getaffinity(0))} usable cores, torch {torch.__version__}, {threads} threads, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")


def data_files(data: Path) -> dict[str, Path]:
    """The UD English-EWT split files under ``data``; SystemExit naming the first one missing."""
    files = {split: data / "UD_English-EWT" / f"en_ewt-ud-{split}.conllu" for split in SPLITS}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise SystemExit(f"missing UD English-EWT file: {missing[0]}")
    return files


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder holding UD_English-EWT/")
    parser.add_argument("--output", type=Path, required=True, help="run folder (model, logs, result.json)")
    parser.add_argument("--epochs", type=int, default=10, help="at most this many epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (training and timing)")
    parser.add_argument("--max-train", type=int, help="train on the first N train sentences only (smoke runs)")
    parser.add_argument("--compare", type=Path, action="append", default=[], metavar="FOLDER",
                        help="a structkd parser folder to time in the same process, on the same sentences (repeatable)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # SuPar puts its model on any GPU torch sees; this peer runs on CPU
    start = time.perf_counter()
    files = data_files(args.data)
    train_file = files["train"] if args.max_train is None else first_sentences(files["train"], args.max_train,
                                                                               args.output)
    model = train(train_file, files["dev"], args.output, args.epochs, args.seed, args.threads)
    torch.set_num_threads(args.threads)
    scores = {split: evaluate(model, files[split]) for split in ("dev", "test")}
    test = read_conllu_trees(files["test"])
    test_words = [sentence.words for sentence in test]
    cpu_start, wall_start = cpu_seconds(), time.perf_counter()
    measured = measure(model, test_words)
    compared = {str(folder): size_and_speed(ParsingTask(load_structkd(folder)), test) for folder in args.compare}
    others = other_load(cpu_start, cpu_seconds(), time.perf_counter() - wall_start)
    result = {
        "peer": "SuPar 1.1.4 BiaffineDependencyParser, BiLSTM encoder, no pretrained embeddings",
        "settings": {"build": BUILD, "train": TRAIN, "evaluate": EVALUATE, "epochs": args.epochs,
                     "seed": args.seed, "train_file": str(train_file)},
        "training": json.loads((args.output / TRAINED).read_text()),
        "scores": scores,
        "parameters": measured["parameters"],
        "speed": {"sentences": len(test_words), "machine": machine(args.threads), "other_load": others,
                  **{key: value for key, value in measured.items() if key.startswith("speed_")}},
        "compared": compared,
        "seconds_this_run": time.perf_counter() - start,
    }
    (args.output / RESULT).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
