"""Typed errors. Each becomes one `error` event whose `errorType` is the class name."""

from __future__ import annotations


class WorkerError(Exception):
    """Base class for failures the worker explains itself (no traceback needed)."""

    exit_code = 1


class SpecError(WorkerError):
    """The spec (or the file it points at) does not match the contract; `field` names the offending field."""

    exit_code = 2

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"invalid spec: {field}: {problem}" if field else f"invalid spec: {problem}")


class DataError(WorkerError):
    """A training data file is unreadable or a record breaks the prompt-completion shape."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}")


class OutOfMemory(WorkerError):
    """Training ran out of device or host memory; the message says which settings to lower."""


class ExportError(WorkerError):
    """The adapter cannot be written as a GGUF LoRA that llama.cpp would apply faithfully."""


class TemplateMismatchError(WorkerError):
    """Rendering then tokenizing a conversation gives other ids than the tokenizer's own chat path."""


class Terminated(BaseException):
    """Raised from the SIGTERM/SIGINT handler; a BaseException so broad `except Exception` blocks don't swallow it."""

    def __init__(self, signal_name: str) -> None:
        self.signal_name = signal_name
        super().__init__(f"received {signal_name}; stopped without publishing artifacts")
