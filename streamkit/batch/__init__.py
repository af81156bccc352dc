"""Data workflows: many prompts, one streamed answer each, keyed, resumable and rate-limited.

``sk.batch(rows, key=..., request=..., endpoint=..., store=...)`` runs a dataset through a chat
endpoint with bounded concurrency, shared rate limits and a result store that a re-run skips;
see ``streamkit.batch.runner``. The pieces, usable alone:

- ``rows``: row keys, request fingerprints, token estimates, lazy row iteration;
- ``store``: the keyed result store (JSON Lines; Parquet in ``parquet`` with pyarrow);
- ``limiter``: requests/min and tokens/min accounting and the run-wide pause (pure, with an
  injected clock and a pluggable ``QuotaSource``);
- ``throttle``: the limiter as an operator, ``rate_limited``;
- ``results``: ``RowResult``, ``BatchSummary``, ``Budget`` and the summary line;
- ``structured``: validators for structured output;
- ``progress``: the progress line of the CLI;
- ``dataframes``: pandas / polars / Arrow in and out (optional extras, imported there only);
- ``cli``: the ``streamkit batch`` command.

Layering: this package is an edge. It builds on the public face of the layers below
(``ChatEndpoint``, ``retry_with_backoff``, the message fold, the error tree) and nothing
below imports it.
"""

from __future__ import annotations

from streamkit.batch.limiter import (
    HeaderLimits,
    LocalQuota,
    QuotaSource,
    RateLimiter,
    Reservation,
    TokenBucket,
    parse_rate_limit_headers,
)
from streamkit.batch.results import BatchSummary, Budget, Price, RowResult, format_summary
from streamkit.batch.rows import estimate_request_tokens, request_hash, row_key
from streamkit.batch.runner import Batch, batch
from streamkit.batch.store import JSONLStore, ResultStore, StoredPartial, open_store
from streamkit.batch.structured import structured
from streamkit.batch.throttle import rate_limited

__all__ = [
    "Batch",
    "BatchSummary",
    "Budget",
    "HeaderLimits",
    "JSONLStore",
    "LocalQuota",
    "Price",
    "QuotaSource",
    "RateLimiter",
    "Reservation",
    "ResultStore",
    "RowResult",
    "StoredPartial",
    "TokenBucket",
    "batch",
    "estimate_request_tokens",
    "format_summary",
    "open_store",
    "parse_rate_limit_headers",
    "rate_limited",
    "request_hash",
    "row_key",
    "structured",
]
