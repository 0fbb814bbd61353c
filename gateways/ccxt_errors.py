"""How ccxt's exceptions map to quantd's, and the retry policy of reads.

ccxt's hierarchy (4.5), the part that matters::

    BaseError
     +-- ExchangeError                  the venue answered and refused: never retried
     |    +-- AuthenticationError, PermissionDenied, AccountSuspended
     |    +-- BadRequest, BadSymbol
     |    +-- InsufficientFunds
     |    +-- InvalidOrder -- OrderNotFound, ...
     +-- OperationFailed                no usable answer (Binance -1001, 5xx): reads retry it
          +-- NetworkError
               +-- RequestTimeout
               +-- DDoSProtection -- RateLimitExceeded   (429, 418)
               +-- ExchangeNotAvailable -- OnMaintenance
               +-- InvalidNonce                          (Binance -1021 timestamp)

Reads retry ``OperationFailed`` (network errors and 5xx answers: a read is safe to repeat)
with exponential backoff and jitter (tenacity), honouring a
``Retry-After`` header on 429/418, a bounded number of times, then raise
:class:`~engine.errors.VenueUnavailable`. ``create_order`` is never retried here: any error
that is not a refusal becomes :class:`~engine.errors.SubmissionUnknown` and the OMS looks the
order up by its client order id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import ccxt
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from engine.errors import SubmissionUnknown, VenueError, VenueUnavailable

log = logging.getLogger("quantd.gateway")

REFUSALS = (ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.BadRequest, ccxt.BadSymbol,
            ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)
"""Errors that prove an order was not accepted: it is rejected, never resent."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of read retries.

    Attributes:
        attempts: tries in total (first call included).
        initial_secs: first backoff; doubles each time, plus up to ``jitter_secs`` random.
        max_wait_secs: cap of one backoff (also of a honoured Retry-After).
        max_total_secs: give up after this long in total.
    """

    attempts: int = 5
    initial_secs: float = 0.5
    max_wait_secs: float = 10.0
    jitter_secs: float = 0.5
    max_total_secs: float = 30.0


def _retry_after_secs(exchange: ccxt.Exchange) -> float | None:
    headers = getattr(exchange, "last_response_headers", None) or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                return float(value)
            except ValueError:
                return None
    return None


async def read(exchange: ccxt.Exchange, policy: RetryPolicy, what: str, call, *args, **kwargs):
    """Await ``call(*args, **kwargs)``, retrying network errors under ``policy``.

    Raises:
        VenueUnavailable: still failing after the retries.
        VenueError: the venue refused (bad symbol, credentials, permissions).
        ccxt.OrderNotFound: passed through, callers decide what absence means.
    """
    backoff = wait_exponential_jitter(multiplier=policy.initial_secs, max=policy.max_wait_secs, jitter=policy.jitter_secs)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = _retry_after_secs(exchange) if isinstance(exc, ccxt.DDoSProtection) else None
        secs = min(retry_after, policy.max_wait_secs) if retry_after else backoff(state)
        log.warning("%s failed (%s: %s); retry %d in %.1fs", what, type(exc).__name__, _short(exc),
                    state.attempt_number, secs)
        return secs

    try:
        async for attempt in AsyncRetrying(retry=retry_if_exception_type(ccxt.OperationFailed), wait=wait,
                                           stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_total_secs),
                                           reraise=True):
            with attempt:
                return await call(*args, **kwargs)
    except ccxt.OrderNotFound:
        raise
    except ccxt.NetworkError as exc:
        raise VenueUnavailable(f"{what}: {type(exc).__name__}: {_short(exc)}") from None
    except ccxt.ExchangeError as exc:
        raise VenueError(f"{what}: {type(exc).__name__}: {_short(exc)}") from None
    except ccxt.BaseError as exc:  # OperationFailed without a network cause (5xx): transient
        raise VenueUnavailable(f"{what}: {type(exc).__name__}: {_short(exc)}") from None


def submission_error(exc: Exception) -> Exception:
    """The quantd error for a failed ``create_order``: refusals pass through for the caller to
    turn into a rejection; anything else means the outcome is unknown."""
    if isinstance(exc, REFUSALS):
        return exc
    return SubmissionUnknown(f"{type(exc).__name__}: {_short(exc)}")


def _short(exc: BaseException | None) -> str:
    text = str(exc) if exc is not None else ""
    return text if len(text) <= 240 else text[:237] + "..."
