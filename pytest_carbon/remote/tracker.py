"""What the session holds: the call log, the account each call is charged to, the figures.

A call remembers the ledger interval running when it was made; the interval's owner is
its account, the same account the local energy of that moment goes to (a call in a
test's setup made before the setup report names the test is claimed with that time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_carbon.ledger import CALL, FIRST_FIXTURE_CODE, PENDING, SETUP, SLOT_PARTS, TEARDOWN, FixtureKey, Ledger
from pytest_carbon.remote import hooks
from pytest_carbon.remote.calls import CallLog, RemoteCall
from pytest_carbon.remote.config import RemoteConfig
from pytest_carbon.schema import LlmRecord, LlmSessionRecord

if TYPE_CHECKING:
    from pytest_carbon.remote.charge import CallFigures, Charger

ALL_PHASES = (SETUP, CALL, TEARDOWN)


class RemoteTracker:
    def __init__(self, ledger: Ledger, config: RemoteConfig, embodied: bool) -> None:
        self.ledger = ledger
        self.config = config
        self.embodied = embodied
        owners = ledger.owners
        self.log = CallLog(owners.__len__)
        self._charger: Charger | None = None
        self._figures: list[CallFigures] = []

    # -- while the session runs --------------------------------------------------------

    def start(self) -> None:
        from pytest_carbon.remote.instrument import ACTIVE, HOOKS

        ACTIVE.append(self.log)
        hooks.when_imported(HOOKS)

    def problems(self) -> list[str]:
        """Warnings for the report: SDKs whose calls could not be observed."""
        return [
            f"hosted-model calls through {module} are not charged: observing it failed ({error})"
            for module, error in dict.fromkeys(hooks.FAILED)
        ]

    def stop(self) -> None:
        from pytest_carbon.remote import instrument

        if self.log in instrument.ACTIVE:
            instrument.ACTIVE.remove(self.log)
        if not instrument.ACTIVE:
            hooks.forget()

    @property
    def calls(self) -> list[RemoteCall]:
        return self.log.calls

    def owner(self, call: RemoteCall) -> int:
        owners = self.ledger.owners
        return owners[call.position] if call.position < len(owners) else self.ledger.code

    # -- figures -----------------------------------------------------------------------

    def figures(self, upto: int | None = None) -> list[CallFigures]:
        """Figures of the calls so far (each call's are made once)."""
        calls = self.log.calls
        end = len(calls) if upto is None else upto
        if len(self._figures) < end:
            if self._charger is None:
                from pytest_carbon.remote.charge import Charger

                self._charger = Charger(self.config, self.embodied)
            self._figures.extend(self._charger.figures(calls[len(self._figures) : end]))
        return self._figures[:end]

    def test_record(self, index: int, phases: tuple[int, ...] = ALL_PHASES) -> LlmRecord | None:
        """Test `index`'s calls in `phases`, while the session runs: the latest calls back
        to the first one charged to another test."""
        calls = self.log.calls
        if not calls:
            return None
        first = 3 * index
        codes = {first + p for p in phases}
        mine: list[int] = []
        for at in range(len(calls) - 1, -1, -1):
            code = self.owner(calls[at])
            if code in codes:
                mine.append(at)
            elif code >= 0 and not first <= code < first + 3:
                break
        if not mine:
            return None
        from pytest_carbon.remote.charge import summarize

        figures = self.figures()
        return summarize(figures[at] for at in reversed(mine))

    def accounts(self) -> tuple[dict[int, LlmRecord], dict[FixtureKey, LlmRecord], LlmRecord]:
        """At the end: every call by account: tests (by index), shared fixtures, the rest
        (start-up, collection, between tests)."""
        from pytest_carbon.remote.charge import summarize

        by_test: dict[int, list[CallFigures]] = {}
        by_slot: dict[int, list[CallFigures]] = {}
        other: list[CallFigures] = []
        for call, figures in zip(self.log.calls, self.figures()):
            code = self.owner(call)
            if code >= 0:
                by_test.setdefault(code // 3, []).append(figures)
            elif code != PENDING and code <= FIRST_FIXTURE_CODE:
                by_slot.setdefault((-2 - code) // SLOT_PARTS, []).append(figures)
            else:
                other.append(figures)
        slots = {record.slot: key for key, record in self.ledger.fixtures.items()}
        fixtures = {slots[slot]: summarize(found) for slot, found in by_slot.items() if slot in slots}
        return {index: summarize(found) for index, found in by_test.items()}, fixtures, summarize(other)

    def session_record(self, accounts: list[LlmRecord]) -> LlmSessionRecord:
        return session_record(self.config, self.embodied, accounts)


def session_record(config: RemoteConfig, embodied: bool, accounts: list[LlmRecord]) -> LlmSessionRecord:
    """The session's calls: every account's, summed (the xdist controller: every worker's)."""
    from pytest_carbon.remote.charge import ecologits_version
    from pytest_carbon.report.sums import merge

    total = merge(accounts)
    # The version is looked up (a scan of the installed packages) only when there are figures.
    version = f" {ecologits_version()}" if total["calls"] or total["replayed"] else ""
    return {
        **total,
        "method": (
            f"EcoLogits{version}: energy from provider, model, output tokens and latency; "
            "emissions at the provider's PUE and the grid where the model runs"
        ),
        "embodied_included": embodied,
        "count_in_budgets": config.count_in_budgets,
    }
