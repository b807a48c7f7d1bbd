"""ONNX export (structkd.export, taggers.export, parsers.export) and the torch-free predictor (structkd.serve):
for every head, parser structure and encoder (BiLSTM with either character encoder, a transformer with sliding
windows, a WID-compressed transformer), onnxruntime gives torch's scores within 1e-4 and the same outputs, on
the sample files and on 1,000 random sentences; the command line's files are byte-identical; no torch is
imported by the predictor; broken export folders get clear errors."""
import json
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from parsers.export import ParserScoresGraph, export_parser
from parsers.model import STRUCTURES, Parser
from structkd.cli import main
from structkd.compression import CompactedBert, target_shape
from structkd.data import read_conllu_trees, read_uner
from structkd.encoders import BiLSTMEncoder, TransformerEncoder
from structkd.encoders.transformer import DEFAULT_MODEL, resolve_model
from structkd.inference import decode_by_length
from structkd.serve import ExportFolderError, load_exported
from structkd.training import shipped_model
from taggers.export import TaggerGraph, export_tagger
from taggers.model import Tagger

from tiny_runs import tiny

DATA = Path(__file__).parent / "data"
TRAIN, DEV, TEST = (str(DATA / f"uner_en_ewt-ud-{s}.sample.iob2") for s in ("train.prerelease", "dev", "test"))
CONLLU = str(DATA / "ud_en_ewt-ud-test.sample.conllu")
NER_SENTENCES = read_uner(TEST)
TREES = read_conllu_trees(CONLLU)
TAGS = sorted({t for s in NER_SENTENCES for t in s.tags})
RELS = sorted({r for s in TREES for r in s.rels})
CORPUS = [s.tokens for s in NER_SENTENCES[:60]]


def tiny_bert() -> TransformerEncoder:
    """A 2-layer random BERT with the packaged MiniLM's tokenizer, windows of 16 subwords (so long sentences
    take several)."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_attention_heads=4, intermediate_size=64,
                        num_hidden_layers=2, max_position_embeddings=64)
    return TransformerEncoder("tiny", max_subwords=16, parts=(tokenizer, BertModel(config, add_pooling_layer=False)))


def wid_student() -> Parser:
    """A parser whose encoder is a WID-compressed transformer (compacted to width 16, 1 layer, then merged)."""
    teacher = tiny_bert()
    compacted = CompactedBert(teacher.model, target_shape(teacher.model.config, 16, 1))
    for param in compacted.parameters():  # compactors away from the identity
        param.data += 0.05 * torch.randn_like(param)
    encoder = TransformerEncoder("wid", max_subwords=16, parts=(teacher.tokenizer, compacted))
    return shipped_model(Parser(encoder, RELS, "nonprojective"))


def bilstm(**options) -> BiLSTMEncoder:
    return BiLSTMEncoder.from_corpus(CORPUS, word_dim=8, hidden_size=8, **options)


MODELS = {
    "tagger-crf-charcnn": lambda: Tagger(bilstm(char_size=6), TAGS, "crf"),
    "tagger-maxent-charlstm-glove": lambda: Tagger(bilstm(char_encoder="lstm", char_size=6, vectors="glove"), TAGS,
                                                   "maxent"),
    "tagger-span-words": lambda: Tagger(bilstm(char_encoder=None, num_layers=1), TAGS, "span", max_width=4),
    "tagger-crf-transformer": lambda: Tagger(tiny_bert(), TAGS, "crf"),
    **{f"parser-{structure}": (lambda structure=structure: Parser(bilstm(char_size=6, num_layers=1), RELS, structure))
       for structure in STRUCTURES},
    "parser-multiroot-projective": lambda: Parser(bilstm(char_encoder=None, num_layers=1), RELS, "projective",
                                                  multiroot=True),
    "parser-wid-transformer": wid_student,
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def exported(request, tmp_path_factory):
    """``(torch model, its export)`` of every model of :data:`MODELS` (random weights, eval mode)."""
    torch.manual_seed(0)
    model = confident(MODELS[request.param]()).eval()
    export = export_tagger if isinstance(model, Tagger) else export_parser
    folder = export(model, tmp_path_factory.mktemp("export") / request.param)
    return model, load_exported(folder, threads=1)


def torch_predict(model, sentences):
    """The torch model's outputs (as its task's ``predict``: eval mode, batches of 64 in length order)."""
    if isinstance(model, Tagger):
        return decode_by_length(sentences, [len(s) for s in sentences], 64, model.decode)
    trees = decode_by_length(sentences, [len(s) for s in sentences], 64, lambda b: list(zip(*model.decode(b))))
    return [list(h) for h, _ in trees], [list(r) for _, r in trees]


def torch_scores(model, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The torch graph's scores of the predictor's inputs ``feeds``."""
    graph = TaggerGraph(model) if isinstance(model, Tagger) else ParserScoresGraph(model)
    with torch.no_grad():
        out = graph(*(torch.from_numpy(array) for array in feeds.values()))
    return [t.numpy() for t in ([out] if torch.is_tensor(out) else out)]


def confident(model):
    """``model`` with its score layers scaled up 20 times: random weights give nearly flat scores, whose near-ties
    float rounding would break either way; trained models' score gaps are far above the 1e-4 checked."""
    scorers = [model.head] if isinstance(model, Tagger) else [model.arc_scorer.biaffine, model.rel_scorer.biaffine,
                                                               *([model.sib_scorer.triaffine] if model.sib_scorer else [])]
    with torch.no_grad():
        for module in scorers:
            for param in module.parameters():
                param.mul_(20)
    return model


def random_sentences(count: int, seed: int) -> list[list[str]]:
    """``count`` sentences of 1 to 25 words: known words, unknown ones, odd characters and empty-looking ones."""
    rng = random.Random(seed)
    known = sorted({w for s in CORPUS for w in s})
    odd = ["wordthatnobodyknows", "ÄÖÜ", "https://x.y/z?q=1", "42", "—", "\u200b", "a" * 40]
    return [[rng.choice(odd) if rng.random() < 0.2 else rng.choice(known) for _ in range(rng.randint(1, 25))]
            for _ in range(count)]


def test_the_export_predicts_the_sample_files_as_torch_does(exported):
    model, onnx = exported
    words = [s.tokens for s in NER_SENTENCES] if isinstance(model, Tagger) else [s.words for s in TREES]
    assert onnx.predict(words) == torch_predict(model, words)


def test_a_thousand_random_sentences_give_torchs_scores_and_outputs(exported):
    """In padded batches of 1 to 64 sentences (length-1 sentences and batches included): scores within 1e-4 of
    torch's, and the same decoded outputs."""
    model, onnx = exported
    sentences, rng, start = random_sentences(1000, seed=1), random.Random(2), 0
    while start < len(sentences):
        batch = sentences[start:start + rng.choice([1, 2, 7, 64])]
        start += len(batch)
        feeds = onnx.inputs(batch)
        for want, have in zip(torch_scores(model, feeds), onnx.run("scores", feeds)):
            finite = np.isfinite(want)
            assert (finite == np.isfinite(have)).all()
            assert np.abs(want[finite] - have[finite]).max(initial=0.0) <= 1e-4 * max(1.0, np.abs(want[finite]).max())
        with torch.no_grad():
            assert onnx.decode(batch) == model.decode(batch)


NO_TORCH = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked")

sys.meta_path.insert(0, NoTorch())
"""


def without_torch(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a new Python process in which importing torch fails."""
    return subprocess.run([sys.executable, "-c", NO_TORCH + textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1])


def test_the_predictor_imports_no_torch(tmp_path):
    torch.manual_seed(0)
    model = Tagger(bilstm(char_size=6), TAGS, "crf").eval()
    folder = export_tagger(model, tmp_path / "onnx")
    out = without_torch(f"""
        import json
        from structkd.serve import load_exported
        tags = load_exported({str(folder)!r}).predict({CORPUS[:20]!r})
        print(json.dumps({{"tags": tags, "torch": "torch" in sys.modules}}))
    """)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"tags": torch_predict(model, CORPUS[:20]), "torch": False}


@pytest.fixture(scope="module")
def cli_models(tmp_path_factory):
    """A tiny NER tagger and parser trained by the command line, and their exports by ``structkd export``."""
    root = tmp_path_factory.mktemp("cli")
    assert main(["train", "ner", "--train", TRAIN, "--dev", DEV, "--output", str(root / "ner"), "--epochs", "1",
                 *tiny()]) == 0
    assert main(["train", "dep", "--train", CONLLU, "--dev", CONLLU, "--output", str(root / "dep"), "--epochs", "1",
                 *tiny()]) == 0
    for task in ("ner", "dep"):
        assert main(["export", task, "--model", str(root / task / "best"), "--output", str(root / f"{task}-onnx")]) == 0
    return root


@pytest.mark.parametrize("task,source,fmt", [("ner", TEST, "uner"), ("ner", TEST, "text"), ("dep", CONLLU, "conllu"),
                                             ("dep", CONLLU, "text")])
def test_predict_with_onnx_writes_the_same_file_as_torch(cli_models, tmp_path, task, source, fmt):
    if fmt == "text":
        text = tmp_path / "input.txt"
        words = [s.tokens for s in NER_SENTENCES] if task == "ner" else [s.words for s in TREES]
        text.write_text("".join(" ".join(w) + "\n" for w in words), encoding="utf-8")
        source = str(text)
    files = {}
    for backend, model in (("torch", cli_models / task / "best"), ("onnx", cli_models / f"{task}-onnx")):
        files[backend] = tmp_path / f"{backend}.out"
        assert main(["predict", task, "--model", str(model), "--backend", backend, "--input", source, "--format", fmt,
                     "--output", str(files[backend]), "--threads", "1"]) == 0
    assert files["onnx"].read_bytes() == files["torch"].read_bytes()


def test_broken_export_folders_get_one_line_errors(cli_models, tmp_path, capsys):
    def predict(folder, task="ner"):
        code = main(["predict", task, "--model", str(folder), "--backend", "onnx", "--input", TEST,
                     "--output", str(tmp_path / "out")])
        return code, capsys.readouterr().err

    code, err = predict(cli_models / "ner" / "best")  # a model folder, not an export
    assert code == 1 and "not an exported model folder" in err and "structkd export" in err
    code, err = predict(cli_models / "ner-onnx", "dep")
    assert code == 1 and "an exported 'ner' model, not a 'dep' one" in err
    broken = tmp_path / "broken"
    (broken / "encoder").mkdir(parents=True)
    for name in ("manifest.json", "arrays.safetensors"):
        (broken / name).write_bytes((cli_models / "ner-onnx" / name).read_bytes())
    for name in ("words.json", "chars.json", "pretrained_words.json"):
        if (cli_models / "ner-onnx" / "encoder" / name).exists():
            (broken / "encoder" / name).write_bytes((cli_models / "ner-onnx" / "encoder" / name).read_bytes())
    code, err = predict(broken)
    assert code == 1 and "the graph files ['scores.onnx'] are missing" in err
    (broken / "scores.onnx").write_bytes((cli_models / "ner-onnx" / "scores.onnx").read_bytes()[:1000])
    code, err = predict(broken)
    assert code == 1 and "cannot load the exported model" in err and "Traceback" not in err
    (broken / "manifest.json").write_text("{not json")
    code, err = predict(broken)
    assert code == 1 and "manifest.json: not valid JSON" in err
    with pytest.raises(ExportFolderError, match="not a structkd-onnx manifest"):
        (broken / "manifest.json").write_text(json.dumps({"format": "other"}))
        load_exported(broken)


def test_a_failed_export_leaves_the_old_folder(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = Tagger(bilstm(char_encoder=None), TAGS, "maxent").eval()
    folder = export_tagger(model, tmp_path / "onnx")
    before = sorted(p.name for p in folder.rglob("*"))

    def broken_check(*args, **kwargs):
        raise ValueError("planted failure")

    monkeypatch.setattr("structkd.export.write_graph", broken_check)
    with pytest.raises(ValueError, match="planted failure"):
        export_tagger(model, folder)
    assert sorted(p.name for p in folder.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]  # no partial folder left beside it


def test_the_readme_serving_example_runs(tmp_path, monkeypatch):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "load_exported" in b)
    torch.manual_seed(0)
    export_tagger(Tagger(bilstm(char_encoder=None), TAGS, "crf").eval(), tmp_path / "runs/ner-student/onnx")
    export_parser(Parser(bilstm(char_encoder=None), RELS, "nonprojective").eval(), tmp_path / "runs/dep-student/onnx")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert len(namespace["tags"]) == 1 and len(namespace["tags"][0]) == 5 and set(namespace["tags"][0]) <= set(TAGS)
    heads, rels = namespace["heads"], namespace["rels"]
    assert len(heads[0]) == len(rels[0]) == 3 and heads[0].count(0) == 1 and set(rels[0]) <= set(RELS)


@pytest.mark.parametrize("task,source", [("ner", TEST), ("dep", CONLLU)])
def test_the_torch_free_command_line_writes_the_files_of_predict(cli_models, tmp_path, task, source):
    """``python -m structkd.serve`` with torch made unimportable: the bytes ``structkd predict`` writes."""
    expected, got = tmp_path / "torch.out", tmp_path / "serve.out"
    assert main(["predict", task, "--model", str(cli_models / task / "best"), "--input", source,
                 "--output", str(expected)]) == 0
    out = without_torch(f"""
        import runpy
        sys.argv = ["structkd.serve", {task!r}, "--model", {str(cli_models / f"{task}-onnx")!r}, "--input", {source!r},
                    "--output", {str(got)!r}]
        runpy.run_module("structkd.serve", run_name="__main__")
    """)
    assert out.returncode == 0, out.stderr
    assert got.read_bytes() == expected.read_bytes()


def test_the_lazy_package_gives_its_names_and_submodules():
    out = without_torch("""
        import structkd
        assert structkd.__version__ and "LinearChainCRF" in dir(structkd)
        try:
            structkd.no_such_name
        except AttributeError as error:
            assert "no_such_name" in str(error)
        import structkd.data, structkd.decoders, structkd.formats, structkd.schemes, structkd.serve, structkd.vocab
        print("torch" in sys.modules)
    """)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
    import structkd
    assert structkd.structs.mst.mst is not None and structkd.kd_loss.__name__ == "kd_loss"
