"""`tokenize`: render conversations with the base's chat template and tokenize them, as training does.

The TypeScript side compares these ids with llama.cpp's tokenization of the same text: a template or
tokenizer mismatch between training and serving must fail loudly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base_model import describe_device, load_tokenizer, prepare_environment
from .errors import TemplateMismatchError
from .protocol import EventStream
from .spec import ChatMessage, TokenizeSpec

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def render_and_tokenize(
    tokenizer: PreTrainedTokenizerBase, conversation: list[dict[str, str]], add_generation_prompt: bool
) -> tuple[str, list[int]]:
    """The rendered text and its ids; checks that tokenizing the text equals the tokenizer's own chat path (what TRL trains on)."""
    text = tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=add_generation_prompt)
    # The template writes its own special tokens; letting the tokenizer add a BOS too would double it.
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    direct = list(
        tokenizer.apply_chat_template(
            conversation, tokenize=True, return_dict=True, add_generation_prompt=add_generation_prompt
        )["input_ids"]
    )
    if ids != direct:
        first = next((i for i, (a, b) in enumerate(zip(ids, direct)) if a != b), min(len(ids), len(direct)))
        raise TemplateMismatchError(
            f"tokenizing the rendered text gives other ids than apply_chat_template(tokenize=True): first difference "
            f"at position {first} ({ids[first:first + 5]} vs {direct[first:first + 5]})"
        )
    return text, ids


def _messages(conversation: tuple[ChatMessage, ...]) -> list[dict[str, str]]:
    return [message.to_dict() for message in conversation]


def run(spec: TokenizeSpec, events: EventStream) -> None:
    prepare_environment(spec.base)
    import torch

    events.started("tokenize", describe_device(), torch.__version__)
    tokenizer = load_tokenizer(spec.base)
    texts: list[str] = []
    token_ids: list[list[int]] = []
    for conversation in spec.conversations:
        text, ids = render_and_tokenize(tokenizer, _messages(conversation), spec.add_generation_prompt)
        texts.append(text)
        token_ids.append(ids)
    result: dict[str, Any] = {"texts": texts, "tokenIds": token_ids}
    events.result(result)
