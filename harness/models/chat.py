"""Chat models: a probe becomes a user turn rendered through the tokenizer's chat template.

``probes.chat`` decides whether prompts are wrapped: ``true`` (the tokenizer
must have a template), ``false``, or ``auto`` (wrap when it has one).  A
wrapped probe is ``[system?, {"role": "user", "content": probe text}]``
rendered by ``tokenizer.apply_chat_template(..., add_generation_prompt=True)``
as text, then encoded without adding special tokens (the template writes the
ones it wants, e.g. a BOS).  Each generation records the rendered prompt and
the template's sha256 (``Generation.rendered_prompt``,
``Generation.chat_template_sha256``); the generation cache never mixes chat and
plain samples because its key covers the template file (``gencache.MODEL_FILES``)
and ``probes.chat``/``probes.system`` (``gencache.open_store``).

``stop_ids`` is the one rule for where a sample ends: the tokenizer's end of
text, every id of the model's ``generation_config.eos_token_id`` (an id or a
list: Llama-3 lists ``<|eot_id|>`` there), and for a wrapped prompt the
special token the template writes right after an assistant reply (``</s>``,
``<|eot_id|>``, ``<|im_end|>``).  Both engines stop at any of them and ban
them all under ``min_new_tokens``; the probe stage records them
(``Arm.stop_ids``) and keys the generation cache by them.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from harness.errors import ModelError


class ChatFormat(NamedTuple):
    """How prompts are wrapped for one model: its template, the template's hash and the system turn."""

    template: str
    sha256: str
    system: str | None


def template_of(tokenizer) -> str | None:
    """The tokenizer's chat template as text (named templates as sorted JSON), or None."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return None
    if isinstance(template, dict):  # several named templates: hash them all, in a stable order
        return json.dumps(template, sort_keys=True, ensure_ascii=False)
    return str(template)


def template_sha256(tokenizer) -> str | None:
    """sha256 of the chat template's text (``template_of``), or None: the one hash that generation records,
    the generation cache and the fine-tuning token cache all name."""
    template = template_of(tokenizer)
    return None if template is None else hashlib.sha256(template.encode("utf-8")).hexdigest()


def resolve(tokenizer, mode: bool | str, system: str | None, where: str) -> ChatFormat | None:
    """The chat format for ``mode`` (``probes.chat``), or None when prompts stay plain text.

    ``where`` names the model in errors.  ``true`` or a system prompt without a template is an error.
    """
    template = template_of(tokenizer)
    if mode is False:
        return None
    if template is None:
        if mode is True:
            raise ModelError(f"{where}: probes.chat is true but the tokenizer has no chat template")
        if system is not None:
            raise ModelError(f"{where}: probes.system is set but the tokenizer has no chat template")
        return None
    return ChatFormat(template, str(template_sha256(tokenizer)), system)


def messages(prompt: str, system: str | None) -> list[dict[str, str]]:
    """The conversation a probe becomes: an optional system turn, then the prompt as the user's turn."""
    turns = [{"role": "system", "content": system}] if system is not None else []
    return turns + [{"role": "user", "content": prompt}]


def render(tokenizer, chat: ChatFormat, prompt: str) -> str:
    """``prompt`` as the model sees it: the template applied, ending with the assistant's generation prompt."""
    try:
        text = tokenizer.apply_chat_template(messages(prompt, chat.system), add_generation_prompt=True, tokenize=False)
    except Exception as err:  # jinja2 raises TemplateError (raise_exception in a template) and others
        raise ModelError(
            f"chat template {chat.sha256[:12]} cannot render the prompt {prompt[:40]!r}: "
            f"{type(err).__name__}: {str(err)[:200]}"
        ) from None
    if not isinstance(text, str):  # transformers 5 may return a list for batched input
        text = text[0]
    return text


REPLY = "\x00reply\x00"  # a stand-in assistant reply: no template writes it, so it is found exactly


def special_ids(tokenizer) -> set[int]:
    """Every id the tokenizer treats as special: its named special tokens and added tokens marked special."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return set(tokenizer.all_special_ids) | {i for i, token in added.items() if getattr(token, "special", False)}


def end_of_turn_id(tokenizer, chat: ChatFormat) -> int | None:
    """The special token the template writes right after an assistant reply, or None (none there, or the
    template cannot render a reply: the other stop ids still apply)."""
    turns = [*messages("?", chat.system), {"role": "assistant", "content": REPLY}]
    try:
        text = tokenizer.apply_chat_template(turns, tokenize=False)
    except Exception:  # jinja2's TemplateError and others: a template that refuses an assistant turn
        return None
    text = text if isinstance(text, str) else text[0]
    at = text.rfind(REPLY)
    if at < 0:
        return None
    ids = tokenizer(text[at + len(REPLY) :].lstrip(), add_special_tokens=False)["input_ids"]
    return ids[0] if ids and ids[0] in special_ids(tokenizer) else None


def stop_ids(model, tokenizer, chat: ChatFormat | None) -> tuple[int, ...]:
    """The token ids that end a sample, sorted (see the module docstring): end of text, the model's
    ``generation_config.eos_token_id`` ids, and with ``chat`` the template's end of turn."""
    found = {tokenizer.eos_token_id}
    listed = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    found |= set(listed) if isinstance(listed, (list, tuple)) else {listed}
    if chat is not None:
        found.add(end_of_turn_id(tokenizer, chat))
    return tuple(sorted(i for i in found if i is not None))


def cache_tag(mode: bool | str, system: str | None) -> dict[str, object]:
    """What the chat settings add to the generation cache's decoding hash."""
    return {"chat": mode, "system": system}
