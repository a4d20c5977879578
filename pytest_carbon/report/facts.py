"""What a report needs to know about the run besides its figures: meters, model, machine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_carbon.carbon.model import CarbonModel
from pytest_carbon.meters.base import Channel
from pytest_carbon.meters.uncertainty import UncertaintyModel

if TYPE_CHECKING:
    from pytest_carbon.schema import ShardInfoRecord


@dataclass
class RunFacts:
    """What the reporters need besides the ledger's numbers."""

    channels: tuple[Channel, ...]
    meter_descriptions: dict[str, str]
    meter_measured: dict[str, bool]
    dropped: dict[str, str]
    estimated_components: frozenset[str]
    model: CarbonModel
    cpu_model: str
    vcpus: int
    start_wall: dt.datetime
    end_wall: dt.datetime | None = None
    action: str = "fail"
    scope: str = "machine"
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    shard: ShardInfoRecord | None = None
    uncertainty: UncertaintyModel = field(default_factory=UncertaintyModel)
