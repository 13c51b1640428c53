"""Training data: corpus → held-out split → token ids → packed blocks, cached as Arrow.

A corpus is tokenized once into two Arrow files (``train.arrow``,
``val.arrow``: one fixed-size row of ``block_size`` token ids per block, EOS
after each document) under ``<cache dir>/<key>/``.  The key hashes the corpus
file's bytes, the corpus reading options, the tokenizer (its full JSON), the
turn separator, the chat template's sha256 and ``loss_on`` (chat corpora),
the split (seed, fraction) and the block size, so any change re-tokenizes and
an unchanged corpus is reused across runs.

A chat corpus (``chat-jsonl``) is rendered through the tokenizer's chat
template (harness.train.chat).  With ``loss_on: assistant`` each row also
carries a ``loss_mask`` (1 = a token the loss counts, int8), packed by the
same ``Packer`` call as the ids so the two cannot drift apart; the EOS
between conversations is 0.  ``batch_of`` turns a mask into labels (masked
positions = ``loss.IGNORE_INDEX``), the one place that happens.

Cache dir: ``finetune.cache_dir`` in the config, else ``$HARNESS_CACHE_DIR``,
else ``~/.cache/harness/tokens``.

Memory stays flat in the corpus size: documents stream from the reader,
blocks are written in batches, and training reads the files memory-mapped
(Arrow IPC streams, the format ``datasets.Dataset.from_file`` opens), gathering
only the rows of each batch.
The held-out side of a document is ``harness.data.split.is_heldout``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from harness.config import CorpusConfig
from harness.data.corpus import Document, corpus_file, corpus_format, iter_corpus
from harness.data.split import is_heldout
from harness.errors import InputError
from harness.io import sha256_file
from harness.models.chat import template_sha256
from harness.train.chat import ChatEncoder, resolve_loss_on

CACHE_VERSION = 2  # 2: chat corpora, the loss_mask column
ENCODE_BATCH = 512  # documents per tokenizer call
WRITE_ROWS = 1024  # blocks per Arrow record batch
MASK_COLUMN = "loss_mask"


def default_cache_dir(configured: str | Path | None = None) -> Path:
    """Config value, else $HARNESS_CACHE_DIR, else ~/.cache/harness/tokens."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("HARNESS_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "harness" / "tokens"


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of everything that decides a tokenizer's ids (its serialized backend, or its vocabulary)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(f"{text}|eos={tokenizer.eos_token_id}".encode()).hexdigest()[:16]


def cache_key(
    corpus: CorpusConfig,
    tokenizer,
    *,
    seed: int,
    val_fraction: float,
    block_size: int,
    sep,
    loss_on: str = "all",
    filter_key=None,
) -> str:
    """The cache folder name for these inputs (see the module docstring).

    ``filter_key``: ``harness.data.corpus_filter.filter_key`` of a filtered
    corpus (the filter and everything its decisions depend on); an unfiltered
    corpus keeps the key it always had.
    """
    chat = corpus_format(corpus) == "chat-jsonl"
    parts = {
        "version": CACHE_VERSION,
        "corpus_sha256": sha256_file(corpus_file(corpus)),
        "corpus": corpus.model_dump(mode="json", exclude={"path", "filter"}),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "turn_separator": sep,
        "chat_template": template_sha256(tokenizer) if chat else None,
        "loss_on": loss_on,
        "seed": seed,
        "val_fraction": val_fraction,
        "block_size": block_size,
        **({"filter": filter_key} if filter_key is not None else {}),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def separator_ids(tokenizer, separator: str | None) -> list[int] | None:
    """Ids put between dialogue turns: a special token's own id, or the text's encoding."""
    if separator is None:
        return None
    token_id = tokenizer.convert_tokens_to_ids(separator)
    if separator in tokenizer.all_special_tokens and token_id is not None:
        return [token_id]
    return tokenizer(separator, add_special_tokens=False)["input_ids"]


def encode_stream(docs: Iterable[Document], tokenizer, sep: list[int] | None) -> Iterator[list[int]]:
    """Token ids per document (no special tokens), turns joined by ``sep`` when given."""
    batch: list[Document] = []

    def flush() -> Iterator[list[int]]:
        if sep is None or all(d.turns is None for d in batch):
            yield from tokenizer([d.text for d in batch], add_special_tokens=False)["input_ids"]
            return
        for doc in batch:
            turns = doc.turns or (doc.text,)
            ids: list[int] = []
            for i, row in enumerate(tokenizer(list(turns), add_special_tokens=False)["input_ids"]):
                ids.extend((sep if i else []) + row)
            yield ids

    for doc in docs:
        batch.append(doc)
        if len(batch) >= ENCODE_BATCH:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


class Packer:
    """The one packing rule for training, held-out and drift data.

    Documents are concatenated with EOS after each and cut into rows of
    ``block`` token ids; the ragged tail is dropped, except that a stream
    shorter than one block becomes a single shorter row (tiny corpora).
    With ``masked``, a 0/1 loss mask per token is buffered and cut beside
    the ids (``mask_buffer``), so row i of the mask always belongs to row i
    of the ids.
    """

    def __init__(self, block: int, eos: int, masked: bool = False) -> None:
        self.block, self.eos, self.masked = block, eos, masked
        self.buffer: list[int] = []  # tokens not yet cut into rows
        self.mask_buffer: list[int] = []  # their loss mask (masked only)
        self.rows = 0
        self.docs = 0
        self.tokens = 0
        self.targets = 0  # tokens of the written rows the loss counts (mask 1; all of them unmasked)

    def add(self, ids: list[int], mask: list[int] | None = None) -> None:
        """Append one document (and its EOS, which a mask leaves out of the loss) to the stream."""
        if self.masked != (mask is not None) or (mask is not None and len(mask) != len(ids)):
            raise ValueError(
                f"Packer(masked={self.masked}) given a mask of {None if mask is None else len(mask)} for {len(ids)} ids"
            )
        self.buffer.extend(ids)
        self.buffer.append(self.eos)
        if mask is not None:
            self.mask_buffer.extend(mask)
            self.mask_buffer.append(0)
        self.docs += 1

    def take(self, final: bool = False):
        """The complete rows buffered so far as an int32 array [rows, block], or None.

        With ``final`` (the stream has ended) a stream that never filled one
        block, but holds at least two tokens, becomes one shorter row.
        A masked packer returns ``(ids, mask)`` arrays of the same shape (or None).
        """
        import numpy as np

        block = self.block
        if final and self.rows == 0 and 2 <= len(self.buffer) < block:
            block = len(self.buffer)
        n_rows = len(self.buffer) // block
        if n_rows == 0:
            return None
        cut = n_rows * block
        rows = np.asarray(self.buffer[:cut], dtype=np.int32).reshape(n_rows, block)
        del self.buffer[:cut]
        self.rows += n_rows
        self.tokens += cut
        if not self.masked:
            self.targets += cut
            return rows
        mask = np.asarray(self.mask_buffer[:cut], dtype=np.int8).reshape(n_rows, block)
        del self.mask_buffer[:cut]
        self.targets += int(mask.sum())
        return rows, mask


class BlockWriter(Packer):
    """A ``Packer`` whose rows go to an Arrow file in batches of ``WRITE_ROWS``.

    Columns: ``input_ids`` (int32 lists) and, when masked, ``loss_mask`` (int8 lists of the same lengths).
    """

    def __init__(self, path: Path, block: int, eos: int, masked: bool = False) -> None:
        import pyarrow as pa

        super().__init__(block, eos, masked)
        self.path = path
        # variable-length lists, though every row is ``block`` long except a lone shorter one (see Packer)
        fields = [pa.field("input_ids", pa.list_(pa.int32()))]
        if masked:
            fields.append(pa.field(MASK_COLUMN, pa.list_(pa.int8())))
        self.schema = pa.schema(fields)
        self.sink = pa.OSFile(str(path), "wb")
        self.writer = pa.ipc.new_stream(self.sink, self.schema)

    def add(self, ids: list[int], mask: list[int] | None = None) -> None:
        super().add(ids, mask)
        if len(self.buffer) >= self.block * WRITE_ROWS:
            self.write(self.take())

    def write(self, rows) -> None:
        """Append rows (``take``'s result: an int32 array [n, length], an (ids, mask) pair, or None)."""
        import numpy as np
        import pyarrow as pa

        if rows is None:
            return
        arrays = rows if isinstance(rows, tuple) else (rows,)
        offsets = pa.array(np.arange(0, arrays[0].size + 1, arrays[0].shape[1], dtype=np.int32))
        columns = [pa.ListArray.from_arrays(offsets, pa.array(a.reshape(-1))) for a in arrays]
        self.writer.write_batch(pa.record_batch(columns, schema=self.schema))

    def close(self) -> None:
        self.write(self.take(final=True))
        self.writer.close()
        self.sink.close()


@dataclass
class TokenCache:
    """A built cache: its folder and what it holds."""

    path: Path
    meta: dict

    def blocks(self, split: str) -> "ArrowBlocks":
        """Memory-mapped blocks of ``split`` (train | val)."""
        return ArrowBlocks(self.path / f"{split}.arrow")


class ArrowBlocks:
    """``len()`` and ``blocks[list_of_rows] → LongTensor [rows, block]`` over a memory-mapped Arrow file.

    ``loss_mask(rows)``: the rows' BoolTensor loss mask, or None when the file has none (every token counts).
    """

    def __init__(self, path: Path) -> None:
        import numpy as np
        import pyarrow as pa

        # The same memory-mapped read as datasets.Dataset.from_file(path) (the files are datasets-
        # compatible), without importing datasets: ~85 MB less resident memory in a training process.
        source = pa.memory_map(str(path))
        table = pa.ipc.open_stream(source).read_all()  # record batches point into the mapping
        self.chunks = mapped_rows(table.column("input_ids"))
        masked = MASK_COLUMN in table.column_names
        self.mask_chunks = mapped_rows(table.column(MASK_COLUMN)) if masked else None
        self.block_size = self.chunks[0].shape[1] if self.chunks else 0
        self.starts = np.cumsum([0] + [len(c) for c in self.chunks])
        self.shape = (int(self.starts[-1]), self.block_size)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows):
        import numpy as np
        import torch

        return torch.from_numpy(self.gather(self.chunks, rows).astype(np.int64))

    def loss_mask(self, rows):
        """BoolTensor [rows, block]: True where the loss counts the token; None for an unmasked file."""
        import torch

        if self.mask_chunks is None:
            return None
        return torch.from_numpy(self.gather(self.mask_chunks, rows) != 0)

    def gather(self, chunks: list, rows):
        """The numpy rows ``rows`` of ``chunks`` (ids or mask: the same row layout)."""
        import numpy as np

        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        which = np.searchsorted(self.starts, rows, side="right") - 1
        return np.stack([chunks[c][r - self.starts[c]] for c, r in zip(which, rows)])


class TensorBlocks:
    """In-memory blocks with a loss mask (``ArrowBlocks``' interface): ids LongTensor, mask BoolTensor."""

    def __init__(self, ids, mask) -> None:
        if tuple(ids.shape) != tuple(mask.shape):
            raise ValueError(f"ids {tuple(ids.shape)} and loss mask {tuple(mask.shape)} differ in shape")
        self.ids, self.mask = ids, mask.bool()
        self.shape, self.block_size = tuple(ids.shape), ids.shape[1]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows):
        return self.ids[rows]

    def loss_mask(self, rows):
        """The rows' loss mask."""
        return self.mask[rows]


def mapped_rows(column) -> list:
    """A chunked Arrow list column as numpy views [rows, length] into the mapped file, one per chunk."""
    out = []
    for chunk in column.chunks:
        if len(chunk):
            flat = chunk.flatten().to_numpy(zero_copy_only=True)  # a view into the mapped file
            out.append(flat.reshape(len(chunk), -1))  # rows of a chunk share one length
    return out


def batch_of(blocks, rows):
    """``(input_ids, labels)`` of ``rows``: labels None when every token counts, else ids with masked positions
    set to ``loss.IGNORE_INDEX`` (unshifted: position t's label is token t, predicted from t-1).

    ``blocks``: a LongTensor [n, block], ``ArrowBlocks`` or ``TensorBlocks``.
    """
    from harness.train.loss import IGNORE_INDEX

    ids = blocks[rows]
    mask = blocks.loss_mask(rows) if hasattr(blocks, "loss_mask") else None
    return ids, (None if mask is None else ids.masked_fill(~mask, IGNORE_INDEX))


class CacheBuild:
    """One token-cache entry, written from documents pushed one at a time (``add``, then ``finish``).

    Push rather than pull, so the audit stage can feed the cache from its own
    stream over the corpus: a run then reads the corpus once for both
    (``build_cache`` pulls from ``iter_corpus`` for everything else).  When
    the entry exists already, ``cached`` holds it and nothing needs feeding.
    """

    def __init__(
        self,
        corpus: CorpusConfig,
        tokenizer,
        *,
        seed: int,
        val_fraction: float,
        block_size: int,
        turn_separator: str | None = None,
        cache_dir: str | Path | None = None,
        fraction_key: str | None = "finetune.val_fraction",
        loss_on: str | None = None,
        model: str | Path | None = None,
        filter_key: str | None = None,
    ) -> None:
        if (corpus.filter is None) != (filter_key is None):  # a filtered and an unfiltered entry never mix
            raise ValueError("a filtered corpus's token cache needs its filter_key (harness.data.corpus_filter)")
        self.corpus, self.tokenizer, self.seed, self.val_fraction = corpus, tokenizer, seed, val_fraction
        self.block_size, self.fraction_key = block_size, fraction_key
        self.sep = separator_ids(tokenizer, turn_separator)
        fmt = corpus_format(corpus)
        self.loss_on = resolve_loss_on(loss_on, fmt)
        # a chat corpus without a chat template fails here, before any document is read
        self.chat = ChatEncoder(tokenizer, corpus.path, self.loss_on, model) if fmt == "chat-jsonl" else None
        root = default_cache_dir(cache_dir)
        self.key = cache_key(
            corpus,
            tokenizer,
            seed=seed,
            val_fraction=val_fraction,
            block_size=block_size,
            sep=self.sep,
            loss_on=self.loss_on,
            filter_key=filter_key,
        )
        self.final = root / self.key
        self.cached: TokenCache | None = None
        if (self.final / "meta.json").is_file():
            self.cached = TokenCache(self.final, json.loads((self.final / "meta.json").read_text(encoding="utf-8")))
            return
        self.tmp = root / f".tmp-{self.key}-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        eos = tokenizer.eos_token_id
        masked = self.loss_on == "assistant"
        self.writers = {
            split: BlockWriter(self.tmp / f"{split}.arrow", block_size, eos, masked) for split in ("train", "val")
        }
        self.batch: list[Document] = []

    def add(self, doc: Document) -> None:
        """Take one document (its side of the held-out split decided by ``is_heldout``)."""
        self.batch.append(doc)
        if len(self.batch) >= ENCODE_BATCH:
            self.flush()

    def flush(self) -> None:
        """Encode and write the buffered documents."""
        if self.chat is not None:
            encoded = (self.chat.encode(doc) for doc in self.batch)
        else:
            encoded = ((ids, None) for ids in encode_stream(self.batch, self.tokenizer, self.sep))
        for doc, (ids, mask) in zip(self.batch, encoded):
            self.writers["val" if is_heldout(doc.text, self.seed, self.val_fraction) else "train"].add(ids, mask)
        self.batch = []

    def finish(self) -> TokenCache:
        """Close the entry and move it into place; a side left without tokens is one clear error."""
        if self.cached is not None:
            return self.cached
        try:
            self.flush()
            for w in self.writers.values():
                w.close()
            self.check_sizes()
        except BaseException:
            self.abort()
            raise
        meta = {
            "key": self.key,
            "corpus": str(self.corpus.path),
            "block_size": self.block_size,
            "loss_on": self.loss_on,
            "chat_template_sha256": template_sha256(self.tokenizer) if self.chat is not None else None,
            **{
                f"{name}_{what}": getattr(w, what)
                for name, w in self.writers.items()
                for what in ("docs", "rows", "tokens", "targets")
            },
        }
        (self.tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        shutil.rmtree(self.final, ignore_errors=True)
        self.tmp.rename(self.final)
        self.cached = TokenCache(self.final, meta)
        return self.cached

    def check_sizes(self) -> None:
        """Both sides of the split need tokens (else training or the held-out loss has nothing)."""
        for split, side in (("train", "training"), ("val", "held-out")):
            if self.writers[split].rows and not self.writers[split].targets:
                raise InputError(
                    f"no assistant tokens on the {side} side (finetune.loss_on: assistant)", self.corpus.path
                )
            if self.writers[split].rows == 0:
                fix = f"change {self.fraction_key} or add documents" if self.fraction_key else "add documents"
                setting = self.fraction_key or "held-out fraction"
                raise InputError(
                    f"corpus too small: no {side} tokens with {setting} {self.val_fraction} ({fix})", self.corpus.path
                )

    def abort(self) -> None:
        """Drop the unfinished entry (a failed or interrupted build leaves nothing behind)."""
        if self.cached is None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def build_cache(corpus: CorpusConfig, tokenizer, kept=None, **settings) -> TokenCache:
    """Tokenize ``corpus`` into the cache (or reuse an existing entry) and return it.

    ``settings`` are ``CacheBuild``'s (seed, val_fraction, block_size, …).
    ``kept``: for a filtered corpus, the audit's decisions
    (``harness.data.corpus_filter.KeptDocuments``): its key and the documents it kept.
    """
    build = CacheBuild(corpus, tokenizer, filter_key=kept.key if kept is not None else None, **settings)
    if build.cached is not None:
        return build.cached
    docs = iter_corpus(corpus)
    try:
        for doc in kept.select(docs) if kept is not None else docs:
            build.add(doc)
    except BaseException:
        build.abort()
        raise
    return build.finish()
