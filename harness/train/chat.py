"""Conversations → token ids and a loss mask, through the tokenizer's own chat template.

A ``chat-jsonl`` corpus (harness.data.corpus) is tuned on exactly the text
the model will see when it is prompted: each conversation is rendered with
``tokenizer.apply_chat_template(messages, tokenize=False)`` and that text is
tokenized (special-token strings the template writes, such as ``</s>`` or
``<|im_end|>``, are read as special tokens, as ``apply_chat_template(tokenize=True)``
does).

The loss mask (``finetune.loss_on: assistant``) marks the tokens of the
assistant turns, each with the end-of-turn marker the template writes after
it, so the model learns to stop.  Two ways to find them:

- the template marks replies with ``{% generation %}`` … ``{% endgeneration %}``:
  transformers' ``return_assistant_tokens_mask`` (the template author says
  what a reply is);
- otherwise (most published templates): render prefixes.  For assistant
  message i, ``messages[:i]`` rendered with ``add_generation_prompt=True`` is
  the text before the reply, ``messages[:i+1]`` the text through its end
  marker; the characters between them, less trailing whitespace (a newline
  the template writes after the end marker is never generated: sampling
  stops at the marker), are the reply, and a token is a reply
  token when it overlaps them (``return_offsets_mapping``; the rule
  transformers applies to ``{% generation %}`` spans, so both ways agree).  This
  needs a template whose rendering of a prefix is a prefix of the whole
  rendering; one that is not (e.g. it rewrites earlier turns) is refused for
  that conversation, naming file and line.

Special-token strings inside a message's content are read as special tokens
too (transformers' default; its ``sanitize_control_tokens`` cannot be combined
with an assistant mask).  The corpus audit reports what the replies contain.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.data.corpus import Document
from harness.errors import ConfigError, InputError

GENERATION_TAG = re.compile(r"{%-?\s*generation\s*-?%}")
LOSS_ON = ("assistant", "all")


def chat_template(tokenizer) -> str | None:
    """The tokenizer's chat template text (the default one when it has several), or None."""
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default")
    return template or None


def require_chat_template(tokenizer, corpus_path: str | Path, model: str | Path | None = None) -> str:
    """The chat template, or one ``ConfigError`` line: a chat corpus needs a tokenizer that has one."""
    template = chat_template(tokenizer)
    if template is None:
        whose = f"the tokenizer of {model}" if model is not None else "the base model's tokenizer"
        raise ConfigError(
            f"corpus {corpus_path} is chat-jsonl but {whose} has no chat template "
            "(chat_template in tokenizer_config.json or chat_template.jinja); "
            "use a chat model as the base, or read the corpus as plain text (corpus.format: jsonl)"
        )
    return template


def resolve_loss_on(loss_on: str | None, fmt: str) -> str:
    """``finetune.loss_on`` for a corpus read as ``fmt``: default assistant for chat-jsonl, all otherwise."""
    chat = fmt == "chat-jsonl"
    if loss_on is None:
        return "assistant" if chat else "all"
    if loss_on == "assistant" and not chat:
        raise ConfigError(
            f"finetune.loss_on: assistant needs a conversation corpus (corpus.format: chat-jsonl), not {fmt}"
        )
    return loss_on


def as_messages(doc: Document) -> list[dict]:
    """A chat document's messages as the ``[{role, content}]`` list chat templates take."""
    return [{"role": role, "content": content} for role, content in doc.messages]


def render(tokenizer, messages: list[dict], where: tuple[Path, int], **kwargs) -> str:
    """``apply_chat_template(messages, tokenize=False)``; a template error names file and line."""
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)
    except Exception as err:  # jinja2's TemplateError, or the template's own raise_exception(...)
        raise InputError(f"the chat template refused this conversation ({type(err).__name__}: {err})", *where) from None


def assistant_spans(tokenizer, messages: list[dict], text: str, where: tuple[Path, int]) -> list[tuple[int, int]]:
    """Character spans of ``text`` (the whole rendering) holding each assistant reply and its end marker."""
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], where, add_generation_prompt=True)
        through = render(tokenizer, messages[: i + 1], where)
        if not (through.startswith(before) and text.startswith(through)):
            raise InputError(
                f"the chat template does not render messages[{i}] as a prefix of the whole conversation, "
                "so its assistant tokens cannot be found; use finetune.loss_on: all, or a template "
                "with {% generation %} markers",
                *where,
            )
        end = len(through.rstrip())
        if end > len(before):
            spans.append((len(before), end))
    return spans


def span_mask(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """1 for each token overlapping one of ``spans`` (character ranges), else 0."""
    return [int(any(start < b and end > a for a, b in spans)) for start, end in offsets]


class ChatEncoder:
    """Token ids (and, for ``loss_on: assistant``, a 0/1 loss mask) per conversation."""

    def __init__(self, tokenizer, corpus_path: str | Path, loss_on: str, model: str | Path | None = None) -> None:
        self.tokenizer, self.path, self.loss_on = tokenizer, Path(corpus_path), loss_on
        self.marked = GENERATION_TAG.search(require_chat_template(tokenizer, corpus_path, model)) is not None

    def encode(self, doc: Document) -> tuple[list[int], list[int] | None]:
        """``(ids, mask)`` for one conversation; ``mask`` is None with ``loss_on: all``."""
        where = (self.path, doc.line)
        messages = as_messages(doc)
        if self.loss_on == "assistant" and self.marked:
            return self.encode_marked(messages, where)
        text = render(self.tokenizer, messages, where)
        tokens = self.tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=self.loss_on == "assistant",
            split_special_tokens=False,
        )
        if self.loss_on != "assistant":
            return tokens["input_ids"], None
        spans = assistant_spans(self.tokenizer, messages, text, where)
        return tokens["input_ids"], span_mask(tokens["offset_mapping"], spans)

    def encode_marked(self, messages: list[dict], where: tuple[Path, int]) -> tuple[list[int], list[int]]:
        """A ``{% generation %}`` template: transformers' own assistant mask."""
        try:
            out = self.tokenizer.apply_chat_template(
                messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
            )
        except Exception as err:
            raise InputError(
                f"the chat template refused this conversation ({type(err).__name__}: {err})", *where
            ) from None
        return list(out["input_ids"]), list(out["assistant_masks"])
