"""Rebuild this folder's sample from the corpora in ``../shared/data`` (how it was made, runnable).

    python3 tests/data/main-job/make.py [--data ../shared/data]

Whole documents (every line of each, comments included, byte for byte) at a fixed stride through each UNER
English-EWT split, so that every genre of the split is in the sample in its share; the transfer text is the
first lines of one file of ``unlabeled-web``.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: output file: (source file under the data folder, take every k-th document starting with the first)
DOCUMENTS = {"train.iob2": ("UNER_English-EWT/en_ewt-ud-train.prerelease.iob2", 4),
             "dev.iob2": ("UNER_English-EWT/en_ewt-ud-dev.iob2", 4),
             "test.iob2": ("UNER_English-EWT/en_ewt-ud-test.iob2", 2)}
TRANSFER = ("unlabeled-web/WikiSplit.txt", 3000)


def documents(text: str) -> list[str]:
    """The documents of a UNER file: each from its ``# newdoc`` line up to the next."""
    return re.split(r"(?m)^(?=# newdoc)", text)[1:]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parents[2] / ".." / "shared" / "data")
    args = parser.parse_args(argv)
    for name, (source, stride) in DOCUMENTS.items():
        text = (args.data / source).read_text(encoding="utf-8")
        if re.split(r"(?m)^(?=# newdoc)", text)[0].strip():
            raise SystemExit(f"{source}: text before the first # newdoc line")
        (HERE / name).write_text("".join(documents(text)[::stride]), encoding="utf-8")
    source, lines = TRANSFER
    head = (args.data / source).read_text(encoding="utf-8").splitlines(keepends=True)[:lines]
    (HERE / "transfer.txt").write_text("".join(head), encoding="utf-8")


if __name__ == "__main__":
    main()
