"""Understudy's Python training worker.

Run as ``python -m understudy_worker <command> --spec spec.json``. The spec and the JSON-line events on
stdout follow ``src/contracts/worker.ts``, the source of truth for both.
"""

__version__ = "0.1.0"
