"""CLI entry: `python -m understudy_worker <command> --spec spec.json`.

Exit codes: 0 success, 1 failure, 2 invalid spec or usage, 143 SIGTERM, 130 SIGINT. Every failure is also an
`error` event on stdout. Heavy libraries load inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import threading
import sys
import time
import traceback
from typing import NoReturn, Sequence

from .errors import Terminated, WorkerError
from .protocol import EventStream, claim_stdout

COMMAND_MODULES = {
    "train-sft": "understudy_worker.train_sft",
    "train-dpo": "understudy_worker.train_dpo",
    "export-merged": "understudy_worker.export_merged",
    "tokenize": "understudy_worker.tokenize_chat",
    "logits": "understudy_worker.logits",
    "bench-generate": "understudy_worker.bench_generate",
    "export-dataset": "understudy_worker.export_dataset",
    "requantize": "understudy_worker.requantize_gguf",
}
COMMAND_HELP = {
    "train-sft": "LoRA SFT with TRL; writes <outputDir>/peft/ and <outputDir>/adapter.gguf",
    "train-dpo": "DPO with TRL from an SFT adapter (a frozen copy is the reference); writes peft/ and adapter.gguf",
    "export-merged": "merge a PEFT adapter into the base and save safetensors + tokenizer (for vLLM, TGI)",
    "tokenize": "render conversations with the base's chat template and return texts and token ids",
    "logits": "top-k next-token log-probabilities at the last position (base, or base + PEFT adapter)",
    "bench-generate": "timed greedy generation (prefill and decode per prompt) for the inference benchmark",
    "export-dataset": "save JSONL files as a Hugging Face datasets DatasetDict (save_to_disk), one split per file",
    "requantize": "rewrite a model GGUF's weight matrices as Q4_0, which llama.cpp's CPU backend repacks for batched kernels",
}
SIGNAL_EXIT_CODES = {"SIGTERM": 143, "SIGINT": 130}


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """Usage errors become an `error` event too, not just text on stderr."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m understudy_worker",
        description="Understudy training worker. Writes one JSON event per line on stdout; logs go to stderr.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="<command>", parser_class=_Parser)
    for name, help_text in COMMAND_HELP.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--spec", required=True, help="path to the JSON spec (src/contracts/worker.ts); '-' reads stdin")
    return parser


def _raise_terminated(signal_number: int, _frame: object) -> None:
    raise Terminated(signal.Signals(signal_number).name)


def watch_parent() -> None:
    """Stop (as on SIGTERM) when the process named by UNDERSTUDY_PARENT_PID is gone.

    A SIGKILLed `understudy train` cannot stop its worker; without this the orphan would keep training and
    writing checkpoints under a run that `--resume` is about to continue.
    """
    raw = os.environ.get("UNDERSTUDY_PARENT_PID")
    if not raw or not raw.isdigit():
        return
    parent = int(raw)

    def loop() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            except PermissionError:
                continue

    threading.Thread(target=loop, name="understudy-parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as error:
        EventStream(sys.stdout).error("UsageError", str(error))
        parser.print_usage(sys.stderr)
        return 2

    stream = claim_stdout()
    # Under `accelerate launch` with several processes only rank 0 speaks the protocol; the others train silently.
    if os.environ.get("RANK", "0") not in ("", "0"):
        stream = open(os.devnull, "w", encoding="utf-8")
    events = EventStream(stream)
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGINT, _raise_terminated)
    watch_parent()
    try:
        from .spec import load_spec_file

        spec = load_spec_file(args.spec, expected_command=args.command)
        started = time.monotonic()
        importlib.import_module(COMMAND_MODULES[args.command]).run(spec, events)
        # Every successful command ends with `done` (train-sft sends its own, with the training figures).
        if not events.done_sent:
            events.done(time.monotonic() - started)
        return 0
    except Terminated as stop:
        events.error("Terminated", str(stop))
        return SIGNAL_EXIT_CODES.get(stop.signal_name, 143)
    except WorkerError as error:
        events.error(type(error).__name__, str(error))
        return error.exit_code
    except Exception as error:  # the last line of defence: report, with the traceback on stderr
        traceback.print_exc(file=sys.stderr)
        events.error(type(error).__name__, str(error) or repr(error))
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
