"""The sampler thread: polls the meters that need it (wrapping counters, integrated power)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from pytest_carbon.meters.base import Meter
from pytest_carbon.meters.clocks import CLOCKS


class Sampler:
    """One daemon thread that polls the meters that need it (wrapping counters, power)."""

    def __init__(
        self, meters: list[Meter], dropped: Mapping[str, str], drop: Callable[[Meter, BaseException], None]
    ) -> None:
        self._dropped = dropped
        self._drop = drop
        self._meters = meters
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pytest-carbon-sampler", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def _run(self) -> None:
        now_ = CLOCKS.now
        due = {id(m): now_() + (m.poll_interval_s or 1.0) for m in self._meters}
        while not self._stop.is_set():
            now = now_()
            for meter in self._meters:
                if meter.name in self._dropped or now < due[id(meter)]:
                    continue
                try:
                    meter.poll()
                except Exception as error:
                    self._drop(meter, error)
                due[id(meter)] = now + (meter.poll_interval_s or 1.0)
            wait = min(due.values()) - now_()
            self._stop.wait(max(0.001, wait))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()
