"""`tokenize`: render conversations with the spec's chat template and tokenize them, as training does.

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


def trained_completion_ids(
    tokenizer: PreTrainedTokenizerBase, prompt: list[dict[str, str]], completion: list[dict[str, str]]
) -> list[int]:
    """The ids TRL's completion-only loss trains on for one record: prompt + completion after their common prefix."""
    prompt_ids = list(
        tokenizer.apply_chat_template(prompt, tokenize=True, return_dict=True, add_generation_prompt=True)["input_ids"]
    )
    full_ids = list(tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True)["input_ids"])
    common = 0
    while common < min(len(prompt_ids), len(full_ids)) and prompt_ids[common] == full_ids[common]:
        common += 1
    return full_ids[common:]


def completion_stop_token(
    tokenizer: PreTrainedTokenizerBase, prompt: list[dict[str, str]], completion: list[dict[str, str]]
) -> int:
    """The special token that ends the trained completion, so the model learns to stop by emitting it.

    Raises `TemplateMismatchError` when the template closes the assistant turn with no special token (after
    trailing whitespace): a model trained on it would never learn to end its answer.
    """
    ids = trained_completion_ids(tokenizer, prompt, completion)
    special = set(tokenizer.all_special_ids) | set(tokenizer.get_added_vocab().values())
    # Whitespace after the end-of-turn token (Gemma writes "\n", itself an added token) is trained too but does not end the turn.
    while ids and tokenizer.decode([ids[-1]]).strip() == "":
        ids.pop()
    if not ids or ids[-1] not in special:
        ending = tokenizer.decode(ids[-3:]) if ids else ""
        raise TemplateMismatchError(
            f"the chat template ends the assistant turn with {ending!r}, not with a special token: a model trained on "
            f"it would not learn to stop (choose a template whose assistant turn ends with an end-of-turn token)"
        )
    return ids[-1]


def _messages(conversation: tuple[ChatMessage, ...]) -> list[dict[str, str]]:
    return [message.to_dict() for message in conversation]


def run(spec: TokenizeSpec, events: EventStream) -> None:
    prepare_environment(spec.base)
    import torch

    events.started("tokenize", describe_device(), torch.__version__)
    tokenizer = load_tokenizer(spec.base, spec.chat_template)
    texts: list[str] = []
    token_ids: list[list[int]] = []
    for conversation, add_generation_prompt in zip(spec.conversations, spec.add_generation_prompt):
        text, ids = render_and_tokenize(tokenizer, _messages(conversation), add_generation_prompt)
        texts.append(text)
        token_ids.append(ids)
    result: dict[str, Any] = {"texts": texts, "tokenIds": token_ids}
    events.result(result)
