"""Weight-inherited compression (structkd.compression): exactness of the compacted and merged models, the mask
schedule and its shared masks, the gradient edits, parameter counts, the CLI students and their resume."""
import copy
import json
import math

import pytest
import torch
from safetensors.torch import load_file

pytest.importorskip("transformers")
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel  # noqa: E402

from parsers.model import Parser  # noqa: E402

from structkd.cli import main  # noqa: E402
from structkd.compression import (  # noqa: E402
    BertShape, CompactedBert, MaskSchedule, NotBertError, head_mask, keep_highest, spread_layers, target_shape,
)
from structkd.compression.bert import MAPS  # noqa: E402
from structkd.encoders import TransformerEncoder  # noqa: E402
from structkd.encoders.transformer import DEFAULT_MODEL, resolve_model  # noqa: E402
from structkd.persistence import load  # noqa: E402
from structkd.training import CompactionTask, shipped_model  # noqa: E402
from taggers.model import Tagger  # noqa: E402
from taggers.task import TaggingTask  # noqa: E402

DATA = "tests/data/"
TRAIN, DEV = DATA + "uner_en_ewt-ud-train.prerelease.sample.iob2", DATA + "uner_en_ewt-ud-dev.sample.iob2"
CONLLU = DATA + "ud_en_ewt-ud-test.sample.conllu"
SMALL = ["--max-sentences", "40", "--batch-size", "16", "--quiet"]


def tiny_bert(seed=0, hidden=48, heads=4, ffn=96, layers=3, vocab=60, **extra):
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_attention_heads=heads, intermediate_size=ffn,
                        num_hidden_layers=layers, max_position_embeddings=32, **extra)
    return BertModel(config).double().eval()


def batch(seed=0, vocab=60):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (3, 9), generator=g)
    attention = torch.ones(3, 9, dtype=torch.long)
    attention[1, 6:], attention[2, 2:] = 0, 0
    return ids, attention


def perturb(compacted, scale=0.2, seed=1):
    """Move every compactor away from the identity (as training would)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for c in compacted.compactors():
            c.add_(torch.randn(c.shape, generator=g, dtype=c.dtype) * scale)


def no_dropout(model):
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if hasattr(module, "attention_dropout"):
            module.attention_dropout = 0.0


@pytest.mark.parametrize("seed,heads,layers,attention", [(0, 4, 3, "eager"), (1, 2, 2, "sdpa"), (2, 6, 1, "eager")])
def test_identity_compactors_without_pruning_equal_the_teacher(seed, heads, layers, attention):
    teacher = tiny_bert(seed, hidden=12 * heads // 2, heads=heads, ffn=40, layers=layers, attn_implementation=attention)
    ids, mask = batch(seed)
    expected = teacher(input_ids=ids, attention_mask=mask).last_hidden_state
    compacted = CompactedBert(teacher, BertShape.of(teacher.config), list(range(layers))).double()
    real = mask.bool()
    for mode in ("eval", "train"):
        getattr(compacted, mode)()
        no_dropout(compacted)
        got = compacted(input_ids=ids, attention_mask=mask).last_hidden_state
        assert (got - expected)[real].abs().max() < 1e-10, mode


def masked_reference(compacted):
    """WID's masked model, written independently of the narrowed forward: a copy of ``compacted`` whose pruned
    compactor rows and columns, biases and LayerNorm entries (under its shipping masks) are zeroed, run at full
    width with its whole compactors (the forward of the soft phase, LayerNorm statistics over the kept residual
    dimensions).  Nothing pruned reaches a kept dimension, and every pruned dimension is exactly 0."""
    reference = copy.deepcopy(compacted)
    masks = reference.shipping_masks()
    with torch.no_grad():
        reference.embedding_compactor[~masks.residual] = 0
        norms = [reference.embedding_norm] + [n for layer in reference.layers for n in (layer.attention_norm,
                                                                                     layer.ffn_norm)]
        for norm in norms:
            norm.weight[~masks.residual], norm.bias[~masks.residual] = 0, 0
        for index, layer in enumerate(reference.layers):
            keep = masks.layer(index)
            for name, (_, source, target) in MAPS.items():
                linear = getattr(layer, name)
                linear.left[:, ~keep[source]], linear.right[~keep[target]], linear.bias[~keep[target]] = 0, 0, 0
    reference.set_masks(masks, 0)  # before the target step: the full-width forward
    return reference.train()


@pytest.mark.parametrize("strategy,hidden", [("dim", 24), ("head", 24), ("head", 36)])
def test_the_narrowed_and_merged_models_equal_the_masked_model_gradients_included(strategy, hidden):
    """At the target widths the model runs narrowed to its kept dimensions (evaluation and training): its hidden
    states and every parameter's gradient equal the masked full-width model's, and the merged dense model's
    hidden states equal them on the kept dimensions."""
    teacher = tiny_bert(3, hidden=48, heads=4, ffn=96, layers=3)
    shape = target_shape(teacher.config, hidden, 2, strategy)
    compacted = CompactedBert(teacher, shape, [0, 2], strategy).double()
    perturb(compacted)
    compacted.set_masks(compacted.masks_at(compacted.schedule.target_step), compacted.schedule.target_step)
    reference = masked_reference(compacted)
    no_dropout(reference)
    ids, mask = batch(3)
    real = mask.bool()
    masked = reference(input_ids=ids, attention_mask=mask).last_hidden_state
    kept = compacted.shipping_masks().residual
    assert masked[..., ~kept].abs().max() == 0 and masked[..., kept].abs().min() > 0
    narrowed = compacted.eval()(input_ids=ids, attention_mask=mask).last_hidden_state
    assert (narrowed - masked)[real].abs().max() < 1e-10
    assert narrowed[..., ~kept].abs().max() == 0  # the pruned dimensions are exactly zero

    weights = torch.randn(masked.shape, generator=torch.Generator().manual_seed(4), dtype=masked.dtype)
    weights = weights * real[..., None] * kept  # a loss of the kept dimensions (the shipped model has no others)
    (masked * weights).sum().backward()
    compacted.train()
    no_dropout(compacted)
    (compacted(input_ids=ids, attention_mask=mask).last_hidden_state * weights).sum().backward()
    for (name, got), want in zip(compacted.named_parameters(), reference.parameters()):
        assert (got.grad - want.grad).abs().max() < 1e-10, name

    merged = compacted.merge()
    dense = merged(input_ids=ids, attention_mask=mask).last_hidden_state
    assert merged.config.hidden_size == hidden and merged.config.num_hidden_layers == 2
    assert merged.config.num_attention_heads == shape.heads and merged.config.intermediate_size == shape.ffn
    assert (masked[..., kept] - dense)[real].abs().max() < 1e-10
    # the attention scale: without the sqrt(d'/d) fold the narrowed heads would be scored differently
    if shape.head_size != teacher.config.hidden_size // teacher.config.num_attention_heads:
        with torch.no_grad():
            for layer in merged.encoder.layer:
                layer.attention.self.query.weight /= math.sqrt(shape.head_size / 12)
                layer.attention.self.query.bias /= math.sqrt(shape.head_size / 12)
        unfolded = merged(input_ids=ids, attention_mask=mask).last_hidden_state
        assert (masked[..., kept] - unfolded)[real].abs().max() > 1e-4


def test_absorbing_the_compactors_keeps_the_model_and_then_trains_the_merged_weights():
    """``absorb`` multiplies the compactors into the weights: the same hidden states and merged model; from then
    on the compactors get no gradient and each map's kept block gets the dense merged model's gradient."""
    teacher = tiny_bert(5)
    shape = target_shape(teacher.config, 24, 2, "head")  # whole heads: the merged query needs no scale fold
    compacted = CompactedBert(teacher, shape, [0, 2], "head").double()
    perturb(compacted)
    compacted.set_masks(compacted.masks_at(compacted.schedule.target_step), compacted.schedule.target_step)
    ids, mask = batch(5)
    real = mask.bool()
    optimizer = torch.optim.AdamW(compacted.parameters())
    compacted.train()
    no_dropout(compacted)
    compacted(input_ids=ids, attention_mask=mask).last_hidden_state.sum().backward()
    optimizer.step()  # Adam state on every parameter, which absorbing must drop where the parameter changed
    with torch.no_grad():
        compacted.layers[0].value.left.add_(0.01)  # a compactor still trained through
    before = compacted.eval()(input_ids=ids, attention_mask=mask).last_hidden_state
    merged_before = compacted.merge()(input_ids=ids, attention_mask=mask).last_hidden_state
    compacted.absorb(optimizer)
    after = compacted(input_ids=ids, attention_mask=mask).last_hidden_state
    assert (after - before)[real].abs().max() < 1e-10
    merged = compacted.merge()
    assert (merged(input_ids=ids, attention_mask=mask).last_hidden_state - merged_before)[real].abs().max() < 1e-10
    value = compacted.layers[0].value
    assert torch.equal(value.left, torch.eye(48, dtype=torch.float64)) and bool(value.absorbed)
    assert value.weight not in optimizer.state and compacted.embedding_compactor not in optimizer.state
    assert compacted.layers[0].attention_norm.weight in optimizer.state  # not absorbed: its state stays

    compacted.train()
    no_dropout(compacted)
    merged.train()
    no_dropout(merged)
    weights = torch.randn(*before.shape[:-1], 24, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    kept = compacted.shipping_masks().residual
    (compacted(input_ids=ids, attention_mask=mask).last_hidden_state[..., kept] * weights * real[..., None]).sum().backward()
    (merged(input_ids=ids, attention_mask=mask).last_hidden_state * weights * real[..., None]).sum().backward()
    assert all(c.grad is None or not c.grad.any() for c in compacted.compactors())
    residual, groups = compacted.kept()
    for index, (layer, dense) in enumerate(zip(compacted.layers, merged.encoder.layer)):
        for name, (path, source, target) in MAPS.items():
            linear = getattr(layer, name)
            block = linear.weight.grad[groups[index][target]][:, groups[index][source]]
            assert (block - dense.get_submodule(path).weight.grad).abs().max() < 1e-10, (index, name)
    word = compacted.word_embeddings.weight.grad[:, residual]
    assert (word - merged.embeddings.word_embeddings.weight.grad).abs().max() < 1e-10


def test_update_absorbs_at_the_target_step_when_asked():
    teacher = tiny_bert(12)
    compacted = CompactedBert(teacher, target_shape(teacher.config, 24, 2), schedule=MaskSchedule(2, 2),
                              absorb_at_target=True).double()
    optimizer = torch.optim.AdamW(compacted.parameters())
    for step in range(1, 5):
        compacted.update(optimizer, step)
        assert bool(compacted.layers[1].ffn_output.absorbed) == (step >= 4)


def test_the_merged_folder_is_a_standard_bert_with_no_missing_or_unexpected_keys(tmp_path):
    teacher = tiny_bert(4)
    compacted = CompactedBert(teacher, target_shape(teacher.config, 24, 2), strategy="dim").double()
    perturb(compacted)
    compacted.merge().save_pretrained(tmp_path / "bert")
    for loader in (BertModel, AutoModel):
        model, info = loader.from_pretrained(tmp_path / "bert", output_loading_info=True)
        assert all(not keys for keys in info.values()), info
        assert model.config.hidden_size == 24


def test_parameter_counts_follow_the_closed_form():
    for hidden, heads, ffn, layers in [(48, 4, 96, 3), (24, 4, 48, 2), (36, 3, 40, 1)]:
        shape = BertShape(hidden, heads, ffn, layers)
        model = BertModel(shape.config(BertConfig(vocab_size=70, max_position_embeddings=20)))
        assert sum(p.numel() for p in model.parameters()) == shape.parameters(70, 20, 2)
    minilm = BertShape(384, 12, 1536, 6)
    assert minilm.parameters(30522, 512, 2) == 22_713_216  # all-MiniLM-L6-v2 with its pooler


def test_target_shapes_and_their_errors():
    config = BertConfig(hidden_size=384, num_attention_heads=12, intermediate_size=1536, num_hidden_layers=6)
    assert target_shape(config, 192, 3, "dim") == BertShape(192, 12, 768, 3)  # 12 heads of 16
    assert target_shape(config, 192, 3, "head") == BertShape(192, 6, 768, 3)  # 6 heads of 32
    assert target_shape(config, 256, 2, "head") == BertShape(256, 8, 1024, 2)
    with pytest.raises(ValueError, match="'head' keeps whole heads of 32"):
        target_shape(config, 256, 2, "dim")
    with pytest.raises(ValueError, match="1 to 6"):
        target_shape(config, 192, 7)
    assert spread_layers(6, 3) == [1, 3, 5] and spread_layers(6, 2) == [2, 5] and spread_layers(4, 4) == [0, 1, 2, 3]


def test_a_teacher_that_is_not_bert_shaped_gets_a_clear_error():
    with pytest.raises(NotBertError, match="BERT-architecture"):
        CompactedBert(torch.nn.LSTM(4, 4), BertShape(2, 1, 2, 1))
    relative = tiny_bert(5, position_embedding_type="relative_key")
    with pytest.raises(NotBertError, match="absolute positions"):
        CompactedBert(relative, BertShape(24, 4, 48, 1))


def test_the_mask_schedule_follows_its_formula():
    schedule = MaskSchedule(interval=5, ramp=4)
    assert [schedule.pruned(t, 12) for t in (0, 4, 5, 9, 10, 15, 19, 20, 100)] == [0, 0, 3, 3, 6, 9, 9, 12, 12]
    assert [schedule.pruned(t, 3) for t in (5, 10, 15, 20)] == [0, 1, 2, 3]  # floor(floor(t/5) * 3 / 4)
    assert schedule.target_step == 20 and schedule.updates_at(10) and not schedule.updates_at(11)
    teacher = tiny_bert(6)
    for strategy in ("dim", "head"):
        shape = target_shape(teacher.config, 24, 2, strategy)
        compacted = CompactedBert(teacher, shape, strategy=strategy, schedule=schedule).double()
        optimizer = torch.optim.AdamW(compacted.parameters())
        for step in range(1, 26):
            perturb(compacted, 0.01, seed=step)
            before = compacted.masks
            before = [m.clone() for m in before]
            compacted.update(optimizer, step)
            masks = compacted.masks
            if not schedule.updates_at(step):
                assert all(torch.equal(a, b) for a, b in zip(before, masks))
                continue
            assert (~masks.residual).sum() == schedule.pruned(step, 24)
            assert ((~masks.ffn).sum(-1) == schedule.pruned(step, 48)).all()
            per_head = (~masks.attention).reshape(2, 4, 12).sum(-1)  # (layers, heads) pruned dimensions
            if strategy == "dim":
                assert (per_head == schedule.pruned(step, 6)).all()
            else:  # whole heads: every head all kept or all pruned
                assert ((per_head == 0) | (per_head == 12)).all()
                assert ((per_head == 12).sum(-1) == schedule.pruned(step, 2)).all()


def test_masks_are_chosen_by_the_lowest_norms_and_shared_where_they_must_be():
    assert keep_highest(torch.tensor([3.0, 1.0, 2.0, 1.0]), 2).tolist() == [True, False, True, False]
    assert head_mask(torch.tensor([5.0, 1, 2, 9, 0, 4]), 2, 1, "dim").tolist() == [True, False, True, True, False, True]
    assert head_mask(torch.tensor([5.0, 1, 2, 9, 0, 4]), 3, 1, "head").tolist() == [True, True, True, True, False, False]
    teacher = tiny_bert(7)
    compacted = CompactedBert(teacher, target_shape(teacher.config, 24, 3), schedule=MaskSchedule(1, 1)).double()
    with torch.no_grad():
        compacted.layers[0].value.left[:, :24] *= 0.1  # layer 0's value input scores the residual width
    compacted.update(torch.optim.AdamW(compacted.parameters()), 1)
    masks = compacted.masks
    assert masks.residual.tolist() == [False] * 24 + [True] * 24
    entries = dict((id(p), keep) for p, keep in compacted.penalised(masks))
    for index, layer in enumerate(compacted.layers):
        for name in ("query", "key", "value", "intermediate"):  # read the residual stream
            assert torch.equal(entries[id(getattr(layer, name).left)][0], masks.residual)
        for name in ("attention_output", "ffn_output"):  # write it
            assert torch.equal(entries[id(getattr(layer, name).right)][:, 0], masks.residual)
            assert torch.equal(entries[id(getattr(layer, name).bias)], masks.residual)
        for name in ("query", "key", "value"):  # the attention width: Q/K/V outputs and the output's input
            assert torch.equal(entries[id(getattr(layer, name).right)][:, 0], masks.attention[index])
        assert torch.equal(entries[id(layer.attention_output.left)][0], masks.attention[index])
        assert torch.equal(entries[id(layer.intermediate.right)][:, 0], masks.ffn[index])
        assert torch.equal(entries[id(layer.ffn_output.left)][0], masks.ffn[index])
        for norm in (layer.attention_norm, layer.ffn_norm):
            assert torch.equal(entries[id(norm.weight)], masks.residual)
    assert torch.equal(entries[id(compacted.embedding_compactor)][:, 0], masks.residual)


def test_gradient_edits_pull_the_pruned_entries_and_leave_the_kept_ones():
    teacher = tiny_bert(8)
    compacted = CompactedBert(teacher, target_shape(teacher.config, 24, 1), [2], schedule=MaskSchedule(2, 1),
                              lam=20.0, penalty=0.5).double()
    optimizer = torch.optim.AdamW(compacted.parameters(), betas=(0.8, 0.999))
    ids, mask = batch(8)
    compacted.train()

    def backward():
        optimizer.zero_grad()
        compacted(input_ids=ids, attention_mask=mask).last_hidden_state.square().sum().backward()
        return {id(p): p.grad.clone() for p in compacted.parameters() if p.grad is not None}

    for step in (1, 2):  # step <= interval: an L2 gradient on every compactor; at step 2 the masks are chosen
        task = backward()
        compacted.update(optimizer, step)
        for c in compacted.compactors():
            assert torch.allclose(c.grad, task[id(c)] + 0.5 * c)
        optimizer.step()
        assert (~compacted.masks.residual).sum() == (24 if step == 2 else 0)
    task = backward()
    moments = {id(p): optimizer.state[p]["exp_avg"].clone() for p in compacted.parameters()}
    compacted.update(optimizer, 3)  # after the first interval the pruned entries are pulled
    for param, keep in compacted.penalised(compacted.masks):
        assert torch.equal(param.grad[keep], task[id(param)][keep])
        assert torch.allclose(param.grad[~keep], 0.5 * param[~keep])
        pull = (1 - 0.8) * 19 * 0.5 * param[~keep]
        assert torch.allclose(optimizer.state[param]["exp_avg"][~keep], moments[id(param)][~keep] + pull)
        assert torch.equal(optimizer.state[param]["exp_avg"][keep], moments[id(param)][keep])
    assert (~compacted.masks.residual).sum() == 24


def tiny_encoder(compacted):
    """A structkd transformer encoder around ``compacted`` with the packaged MiniLM's tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL), local_files_only=True)
    return TransformerEncoder("tiny", max_subwords=32, parts=(tokenizer, compacted))


WORDS = [["John", "lives", "in", "New", "York"], ["Hello"], ["a", "b", "unbelievably", "long", "word", "list"]]


def test_the_shipped_tagger_keeps_the_crf_log_partition_and_marginals(tmp_path):
    teacher = tiny_bert(9, vocab=30522)
    compacted = CompactedBert(teacher, target_shape(teacher.config, 24, 2, "head"), strategy="head").double()
    perturb(compacted, 0.1)
    torch.manual_seed(0)
    tagger = Tagger(tiny_encoder(compacted), ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"], "crf").double().eval()
    shipped = shipped_model(tagger)
    assert shipped.encoder.output_size == 24 and shipped.head.emissions.in_features == 24
    with torch.no_grad():
        masked, dense = tagger(WORDS), shipped(WORDS)
    assert (masked.log_partition - dense.log_partition).abs().max() < 1e-5
    assert (masked.marginals - dense.marginals).abs().max() < 1e-5
    gold = TaggingTask(tagger)
    CompactionTask(gold, gold).save(tmp_path / "best")
    loaded = load(tmp_path / "best").double().eval()
    with torch.no_grad():
        assert (loaded(WORDS).log_partition - masked.log_partition).abs().max() < 1e-5
    alone = TransformerEncoder(str(tmp_path / "best" / "bert")).double().eval()  # the standalone folder
    with torch.no_grad():
        assert (alone(WORDS)[0] - shipped.encoder(WORDS)[0]).abs().max() < 1e-10


def test_the_shipped_parser_narrows_its_root_vector_and_scorers():
    teacher = tiny_bert(10, vocab=30522)
    compacted = CompactedBert(teacher, target_shape(teacher.config, 24, 1)).double()
    perturb(compacted, 0.1)
    torch.manual_seed(0)
    parser = Parser(tiny_encoder(compacted), ["nsubj", "obj", "root"], "projective").double().eval()
    kept = compacted.shipping_masks().residual
    shipped = shipped_model(parser)
    with torch.no_grad():
        parser.root[~kept] = 0  # the merged model has no pruned ROOT entries; with them zeroed the two agree
        masked, dense = parser(WORDS), shipped(WORDS)
    assert shipped.root.shape == (24,) and shipped.arc_scorer.dependent.linear.in_features == 24
    assert (masked.arcs - dense.arcs).abs().max() < 1e-8
    assert (masked.rel_dependents - dense.rel_dependents).abs().max() < 1e-8


# ----------------------------------------------------------------------------- the command line
@pytest.fixture(scope="module")
def teachers(tmp_path_factory):
    """A tiny random BERT (the packaged MiniLM's tokenizer) fine-tuned into a NER teacher and a parser teacher."""
    root = tmp_path_factory.mktemp("wid")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(DEFAULT_MODEL), local_files_only=True)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=48, num_attention_heads=4, intermediate_size=96,
                        num_hidden_layers=2, max_position_embeddings=128)
    BertModel(config).save_pretrained(root / "bert")
    tokenizer.save_pretrained(root / "bert")
    tiny = ["--encoder", "transformer", "--transformer", str(root / "bert"), "--epochs", "1", "--lr", "1e-3", *SMALL]
    assert main(["train", "ner", "--train", TRAIN, "--dev", DEV, "--output", str(root / "ner"), *tiny]) == 0
    assert main(["train", "dep", "--train", CONLLU, "--dev", CONLLU, "--output", str(root / "dep"), *tiny]) == 0
    return root


def student_argv(teachers, task, out, encoder, *extra):
    data = ["--train", TRAIN, "--dev", DEV] if task == "ner" else ["--train", CONLLU, "--dev", CONLLU]
    return ["distill", task, "--teacher", str(teachers / task / "best"), *data, "--output", str(out),
            "--student-encoder", encoder, "--student-hidden", "24", "--student-layers", "1", "--wid-interval", "1",
            "--wid-ramp", "2", "--lr", "1e-3", *SMALL, *extra]


@pytest.mark.parametrize("task,objective", [("ner", "structural"), ("dep", "token"), ("ner", "none")])
def test_a_wid_student_is_a_normal_model_folder_of_the_target_shape(teachers, tmp_path, task, objective):
    out = tmp_path / "wid"
    assert main(student_argv(teachers, task, out, "wid", "--epochs", "2", "--objective", objective)) == 0
    student = load(out / "best")
    bert = student.encoder.model
    assert (bert.config.hidden_size, bert.config.num_hidden_layers, bert.config.num_attention_heads) == (24, 1, 4)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["parameters"] == sum(p.numel() for p in student.parameters())
    _, info = BertModel.from_pretrained(out / "best" / "bert", output_loading_info=True)
    assert all(not keys for keys in info.values())


def test_the_baselines_of_the_same_shape(teachers, tmp_path, capsys):
    shapes = {}
    for encoder in ("sliced", "random-bert"):
        out = tmp_path / encoder
        assert main(student_argv(teachers, "ner", out, encoder, "--epochs", "1")) == 0
        shapes[encoder] = sum(p.numel() for p in load(out / "best").parameters())
    printed = capsys.readouterr().out
    assert "inherited from the teacher: its encoder and 5 other tensors" in printed  # the sliced student's CRF
    assert shapes["sliced"] == shapes["random-bert"]
    # the sliced student starts as the teacher's first dimensions: its embeddings are the teacher's, cut
    teacher = load_file(str(teachers / "ner" / "best" / "model.safetensors"))
    sliced = load_file(str(tmp_path / "sliced" / "checkpoint" / "model.safetensors"))
    assert sliced["encoder.model.embeddings.word_embeddings.weight"].shape == (teacher[
        "encoder.model.embeddings.word_embeddings.weight"].shape[0], 24)


@pytest.mark.parametrize("absorb", [[], ["--wid-absorb"]])
def test_a_kill_mid_compaction_resumes_to_the_uninterrupted_weights(teachers, tmp_path, monkeypatch, absorb):
    argv = lambda out: student_argv(teachers, "ner", out, "wid", "--epochs", "3", "--batch-size", "8",  # noqa: E731
                                    *absorb)
    assert main(argv(tmp_path / "straight")) == 0
    calls = {"n": 0}
    original = CompactionTask.loss

    def killed(self, batch, progress):
        calls["n"] += 1
        if calls["n"] == 8:  # in epoch 2 (5 batches an epoch): epoch 1 is checkpointed
            raise KeyboardInterrupt
        return original(self, batch, progress)

    monkeypatch.setattr(CompactionTask, "loss", killed)
    with pytest.raises(KeyboardInterrupt):
        main(argv(tmp_path / "killed"))
    monkeypatch.setattr(CompactionTask, "loss", original)
    assert main(argv(tmp_path / "killed") + ["--resume"]) == 0
    straight = load_file(str(tmp_path / "straight" / "checkpoint" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "killed" / "checkpoint" / "model.safetensors"))
    assert straight.keys() == resumed.keys() and all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert int(resumed["encoder.model.step"]) == 15 and bool(resumed["encoder.model.layers.0.query.absorbed"]) == bool(absorb)


def test_compressing_a_teacher_without_a_transformer_is_a_clear_error(teachers, tmp_path, capsys):
    out = tmp_path / "bilstm-teacher"
    assert main(["train", "ner", "--train", TRAIN, "--dev", DEV, "--output", str(out), "--encoder", "bilstm",
                 "--hidden", "8", "--layers", "1", "--word-dim", "8", "--char", "none", "--word-vectors", "none",
                 "--epochs", "1", *SMALL]) == 0
    argv = student_argv(teachers, "ner", tmp_path / "s", "wid", "--epochs", "1")
    argv[argv.index("--teacher") + 1] = str(out / "best")
    assert main(argv) == 1
    assert "this teacher's encoder is BiLSTMEncoder" in capsys.readouterr().err
    argv = student_argv(teachers, "ner", tmp_path / "s2", "wid", "--epochs", "1")
    argv[argv.index("--student-hidden") + 1] = "30"
    assert main(argv) == 1
    assert "width 30 does not fit strategy 'head'" in capsys.readouterr().err


def test_the_docstring_example_runs():
    import doctest

    import structkd.compression.bert as module

    result = doctest.testmod(module)
    assert result.attempted >= 3 and result.failed == 0


def test_after_the_target_widths_the_masks_are_frozen_and_trained_through():
    teacher = tiny_bert(11)
    compacted = CompactedBert(teacher, target_shape(teacher.config, 24, 2), schedule=MaskSchedule(2, 2)).double()
    optimizer = torch.optim.AdamW(compacted.parameters())
    ids, mask = batch(11)
    for step in range(1, 5):
        compacted.update(optimizer, step)
    assert compacted.at_target and (~compacted.masks.residual).sum() == 24
    frozen = [m.clone() for m in compacted.masks]
    with torch.no_grad():  # the norms change so that other units would now score lowest
        compacted.layers[0].value.left.mul_(torch.linspace(2, 0.1, 48, dtype=torch.float64))
    for step in range(5, 9):
        compacted.update(optimizer, step)
    assert all(torch.equal(a, b) for a, b in zip(frozen, compacted.masks))
    compacted.train()
    no_dropout(compacted)
    training = compacted(input_ids=ids, attention_mask=mask).last_hidden_state
    compacted.eval()
    evaluation = compacted(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.equal(training, evaluation) and training[..., ~compacted.masks.residual].abs().max() == 0
