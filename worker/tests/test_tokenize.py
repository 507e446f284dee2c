"""`tokenize` renders with the base's chat template and returns the ids training sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from understudy_worker.tokenize_chat import render_and_tokenize
from worker_cli import run_worker

CONVERSATIONS = [
    [{"role": "system", "content": "Classify."}, {"role": "user", "content": "I lost my card"}],
    [{"role": "user", "content": "Where is my card?"}],
    [
        {"role": "system", "content": "Classify."},
        {"role": "user", "content": "I lost my card"},
        {"role": "assistant", "content": "lost_or_stolen_card"},
    ],
]


def test_tokenize_cli_returns_chatml_texts_and_matching_ids(tmp_path: Path, base_ref: dict[str, str], tokenizer: Any, chat_template: str) -> None:
    spec = {"command": "tokenize", "base": base_ref, "conversations": CONVERSATIONS, "addGenerationPrompt": True, "chatTemplate": chat_template}
    run = run_worker("tokenize", spec, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert [event["event"] for event in run.events] == ["started", "result", "done"]
    result = run.one("result")["result"]
    texts, token_ids = result["texts"], result["tokenIds"]
    assert len(texts) == len(token_ids) == len(CONVERSATIONS)

    assert texts[0] == "<|im_start|>system\nClassify.<|im_end|>\n<|im_start|>user\nI lost my card<|im_end|>\n<|im_start|>assistant\n"
    # The SmolLM2 template injects its default system prompt when the conversation has none.
    assert texts[1].startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert texts[2].endswith("lost_or_stolen_card<|im_end|>\n<|im_start|>assistant\n")

    im_start, im_end = tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    for conversation, text, ids in zip(CONVERSATIONS, texts, token_ids):
        assert ids == tokenizer(text, add_special_tokens=False)["input_ids"]
        direct = tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True, add_generation_prompt=True)
        assert ids == list(direct["input_ids"])
        # Special tokens are single ids, and nothing (no extra BOS) precedes the first <|im_start|>.
        assert ids[0] == im_start and ids.count(im_end) == text.count("<|im_end|>")


def test_without_generation_prompt_the_text_ends_after_the_last_turn(tokenizer: Any) -> None:
    text, ids = render_and_tokenize(tokenizer, CONVERSATIONS[2], add_generation_prompt=False)
    assert text.endswith("<|im_start|>assistant\nlost_or_stolen_card<|im_end|>\n")
    assert tokenizer.decode(ids) == text


def test_tokenize_cli_takes_one_generation_flag_per_conversation_and_the_spec_template(tmp_path: Path, base_ref: dict[str, str]) -> None:
    template = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    spec = {"command": "tokenize", "base": base_ref, "conversations": CONVERSATIONS[1:], "addGenerationPrompt": [True, False], "chatTemplate": template}
    run = run_worker("tokenize", spec, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    texts = run.one("result")["result"]["texts"]
    # The spec's template (no default system turn) was used, not the GGUF's; the flags apply per conversation.
    assert texts[0] == "<|im_start|>user\nWhere is my card?<|im_end|>\n<|im_start|>assistant\n"
    assert texts[1].endswith("lost_or_stolen_card<|im_end|>\n")
