"""Capability drift: loss on a neutral reference corpus, before vs after tuning.

Fine-tuning on forum posts makes a model better at forum posts; the question
here is how much worse it got at neutral Japanese.  The reference corpus (e.g.
``../shared/corpora/ud-japanese-gsd-dev/sentences.txt``) is packed like the
training data (EOS after each document) and capped at ``max_tokens``.
"""

from __future__ import annotations

from harness.config import CorpusConfig
from harness.data.corpus import iter_corpus
from harness.errors import InputError
from harness.train.data import encode_stream


def reference_blocks(corpus: CorpusConfig, tokenizer, block_size: int, max_tokens: int):
    """The first ``max_tokens`` tokens of ``corpus`` as a LongTensor [n, block] (one shorter block if small)."""
    import torch

    stream: list[int] = []
    for ids in encode_stream(iter_corpus(corpus), tokenizer, None):
        stream.extend(ids)
        stream.append(tokenizer.eos_token_id)
        if len(stream) >= max_tokens:
            break
    stream = stream[:max_tokens]
    if len(stream) < 2:
        raise InputError("drift corpus produced no tokens", corpus.path)
    block = min(block_size, len(stream))
    n = len(stream) // block
    return torch.tensor(stream[: n * block], dtype=torch.long).view(n, block)
