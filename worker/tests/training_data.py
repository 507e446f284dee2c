"""Banking-style prompt-completion records and train-sft specs for the tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LABELS = ("card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed")
QUESTIONS = {
    "card_arrival": ["When will my new card arrive?", "My card still hasn't come in the mail.", "How long does card delivery take?", "Is my card on its way?"],
    "exchange_rate": ["What exchange rate do you use?", "How much is 100 euros in dollars?", "Is the exchange rate fixed?", "Why did the rate change today?"],
    "lost_or_stolen_card": ["I lost my card.", "My card was stolen yesterday.", "I can't find my debit card anywhere.", "Someone took my wallet with my card."],
    "top_up_failed": ["My top up failed.", "Why did my top-up get declined?", "I tried adding money but it did not work.", "The top up shows as failed."],
}
SYSTEM_PROMPT = "Classify the banking request. Answer with one label: " + ", ".join(LABELS) + "."
# One completion far longer than the run's maxLength, so exactly one example is truncated.
LONG_COMPLETION = "lost_or_stolen_card " + "and please block it right away " * 20
TRAIN_MAX_LENGTH = 96


def banking_records() -> list[dict[str, Any]]:
    records = []
    for index in range(16):
        label = LABELS[index % 4]
        question = QUESTIONS[label][index // 4]
        completion = LONG_COMPLETION if index == 2 else label
        records.append(
            {
                "prompt": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}],
                "completion": [{"role": "assistant", "content": completion}],
            }
        )
    return records


def train_spec(base_ref: dict[str, str], train_path: Path, output_dir: Path, chat_template: str, **training: Any) -> dict[str, Any]:
    return {
        "command": "train-sft",
        "base": base_ref,
        "trainPath": str(train_path),
        "chatTemplate": chat_template,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "targetModules": "all-linear"},
        "training": {
            "epochs": 1,
            "maxSteps": 3,
            "learningRate": 1e-3,
            "batchSize": 4,
            "gradientAccumulation": 1,
            "maxLength": TRAIN_MAX_LENGTH,
            "warmupRatio": 0.0,
            "scheduler": "linear",
            "seed": 7,
            "loggingSteps": 2,
            "threads": 2,
            **training,
        },
        "outputDir": str(output_dir),
    }


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path
