"""Sequence taggers: a word encoder plus a head producing a structkd factorization (CRF, MaxEnt or spans).

    from structkd.encoders import BiLSTMEncoder
    from taggers import Tagger
    tagger = Tagger(BiLSTMEncoder.from_corpus(train_words), tags, head="crf")
    loss = tagger.gold_loss(words, gold_tags)        # mean -log p(gold)
    dist = tagger.factorization(words)               # structkd.LinearChainCRF, ready for kd_loss
    tagger.decode(words)                             # list[list[str]]
"""
from .heads import CRFHead, MaxEntHead, SpanHead
from .model import HEADS, Tagger

__all__ = ["Tagger", "HEADS", "CRFHead", "MaxEntHead", "SpanHead"]
