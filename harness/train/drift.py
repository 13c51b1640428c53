"""Capability drift: loss on a neutral reference corpus, before vs after tuning.

Fine-tuning on forum posts makes a model better at forum posts; the question
here is how much worse it got at neutral Japanese.  The reference corpus (e.g.
``../shared/corpora/ud-japanese-gsd-dev/sentences.txt``) is packed like the
training data (``harness.train.data.Packer``) and capped at ``max_tokens``.
"""

from __future__ import annotations

from harness.config import CorpusConfig
from harness.data.corpus import iter_corpus
from harness.errors import InputError
from harness.train.data import Packer, encode_stream


def reference_blocks(corpus: CorpusConfig, tokenizer, block_size: int, max_tokens: int):
    """The first ``max_tokens`` tokens of ``corpus``, packed (``Packer``), as a LongTensor [n, block]."""
    import torch

    packer = Packer(block_size, tokenizer.eos_token_id)
    for ids in encode_stream(iter_corpus(corpus), tokenizer, None):
        packer.add(ids)
        if len(packer.buffer) >= max_tokens:
            break
    del packer.buffer[max_tokens:]
    rows = packer.take(final=True)
    if rows is None:
        raise InputError("drift corpus produced no tokens", corpus.path)
    return torch.from_numpy(rows).long()
