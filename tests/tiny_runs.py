"""Options of tiny, fast command-line training runs shared by the CLI tests."""


def tiny(prefix=""):
    """A tiny BiLSTM on the first 40 sentences (``prefix`` "student-" for distill's student options), without
    pretrained word vectors (fast; the tests that need them ask for them)."""
    model = ["encoder", "bilstm", "hidden", "16", "layers", "1", "word-dim", "16", "char", "none", "word-vectors", "none"]
    return [f"--{prefix}{x}" if i % 2 == 0 else x for i, x in enumerate(model)] + [
        "--max-sentences", "40", "--batch-size", "16", "--quiet"]
