"""What each hosted-model call leaves behind while the tests run: one plain record, appended."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple


class RemoteCall(NamedTuple):
    """A finished call, as observed; figures are made from it at the end.

    `position`: the ledger interval running when the call was made (the account it is
    charged to is the owner of that interval, known once the interval closes)."""

    position: int
    sdk_provider: str  # the provider of the SDK that made the call (EcoLogits' name)
    url: str  # scheme://host[:port]/path of the request, without credentials or query; "" when not seen
    model: str  # as the API answered (or as requested, when the answer does not say)
    output_tokens: int | None
    latency_s: float
    replayed: bool  # answered without reaching a model (cassette, mock transport)


class CallLog:
    """The session's calls, in the order they finished. Appending is thread-safe (one
    list.append); `position` reads where the ledger is."""

    def __init__(self, position: Callable[[], int]) -> None:
        self.position = position
        self.calls: list[RemoteCall] = []

    def add(self, call: RemoteCall) -> None:
        self.calls.append(call)
