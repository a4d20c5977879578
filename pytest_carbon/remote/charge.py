"""From observed calls to figures, with EcoLogits (imported here, at the end of a run that
made calls): `llm_impacts(provider, model, output tokens, latency, zone)` per call.

The provider of a call is the endpoint's from `[tool.pytest_carbon.llm.endpoints]`, else
the provider whose public API host it went to, else the SDK's. Its emissions are EcoLogits':
the provider's PUE and the grid of the zone where the model runs (the endpoint's zone when
one is set), plus the embodied share when --carbon-embodied is on. A replayed call is
charged nothing; a model EcoLogits does not know is listed as not charged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

from pytest_carbon.remote.calls import RemoteCall
from pytest_carbon.remote.config import RemoteConfig, describe_host, resolve_endpoint
from pytest_carbon.report.sums import SUMMED, empty_record
from pytest_carbon.schema import LlmRecord

J_PER_KWH = 3.6e6
MAX_NAME = 120


class CallFigures(NamedTuple):
    key: str  # the model as the API named it (cleaned for display)
    provider: str
    provider_source: str
    charged_as: str | None
    zone: str | None
    host: str
    replayed: bool
    charged: bool
    output_tokens: int
    energy_j_min: float
    energy_j_max: float
    co2e_g_min: float
    co2e_g_max: float
    problem: str | None
    warnings: tuple[str, ...]


def clean_name(raw: str) -> str:
    """A model name from an API answer, safe to show: printable, bounded."""
    text = "".join(ch if ch.isprintable() else "?" for ch in raw).strip()
    return (text[:MAX_NAME] + "...") if len(text) > MAX_NAME else (text or "unknown")


def _range(value: Any) -> tuple[float, float]:
    if value is None:
        return 0.0, 0.0
    if hasattr(value, "min") and hasattr(value, "max"):
        return float(value.min), float(value.max)
    return float(value), float(value)


def ecologits_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ecologits")
    except PackageNotFoundError:
        return "?"


class Charger:
    """Turns calls into figures; one per session (it caches model look-ups)."""

    def __init__(self, config: RemoteConfig, embodied: bool) -> None:
        self.config = config
        self.embodied = embodied
        self._found: dict[tuple[str, str], bool] = {}

    def _known(self, provider: str, model: str) -> bool:
        key = (provider, model)
        if key not in self._found:
            from ecologits.model_repository import models

            self._found[key] = models.find_model(provider=provider, model_name=model) is not None
        return self._found[key]

    def _provider(self, call: RemoteCall) -> tuple[str, str, str | None]:
        """(provider, where it came from, zone)."""
        endpoint, known = resolve_endpoint(self.config, call.url) if call.url else (None, None)
        if endpoint is not None:
            return endpoint.provider, endpoint.origin, endpoint.zone
        if known is not None:
            return known, "api host", None
        return call.sdk_provider, "sdk", None

    def figures(self, calls: Iterable[RemoteCall]) -> list[CallFigures]:
        from ecologits.tracers.utils import PROVIDER_CONFIG_MAP, llm_impacts

        quiet = logging.getLogger("ecologits")
        was_disabled = quiet.disabled
        quiet.disabled = True  # its warnings become notes in the report, not lines in the test output
        try:
            return [self._one(call, llm_impacts, list(PROVIDER_CONFIG_MAP)) for call in calls]
        finally:
            quiet.disabled = was_disabled

    def _one(self, call: RemoteCall, llm_impacts: Any, providers: list[str]) -> CallFigures:
        provider, source, zone = self._provider(call)
        key = clean_name(call.model)
        host = describe_host(call.url) if call.url else "an unknown host"
        tokens = call.output_tokens or 0
        empty = (0.0, 0.0, 0.0, 0.0)
        if call.replayed:
            return CallFigures(key, provider, source, None, zone, host, True, False, tokens, *empty, None, ())
        name = self.config.models.get(call.model, call.model)
        if not self._known(provider, name) and source == "sdk":
            # A gateway of unknown host may serve another provider's models under their names.
            other = next((p for p in providers if p != provider and self._known(p, name)), None)
            if other is not None:
                provider = other
        if not self._known(provider, name):
            mapped = f" (mapped from {key!r})" if name != call.model else ""
            problem = f"EcoLogits does not know the model {clean_name(name)!r}{mapped} for provider {provider}"
            return CallFigures(key, provider, source, None, zone, host, False, False, tokens, *empty, problem, ())
        impacts = llm_impacts(provider, name, tokens, max(call.latency_s, 0.0), zone)
        if impacts.errors:
            problem = "; ".join(str(e.message) for e in impacts.errors)
            return CallFigures(key, provider, source, None, zone, host, False, False, tokens, *empty, problem, ())
        energy_min, energy_max = _range(impacts.energy.value)
        co2e_min, co2e_max = _range(impacts.usage.gwp.value)
        if self.embodied:
            embodied_min, embodied_max = _range(impacts.embodied.gwp.value)
            co2e_min, co2e_max = co2e_min + embodied_min, co2e_max + embodied_max
        warnings = tuple(f"{w.code}: {w.message}" for w in (impacts.warnings or ()))
        return CallFigures(
            key,
            provider,
            source,
            name,
            zone,
            host,
            False,
            True,
            tokens,
            energy_min * J_PER_KWH,
            energy_max * J_PER_KWH,
            co2e_min * 1000.0,
            co2e_max * 1000.0,
            None,
            warnings,
        )


def summarize(figures: Iterable[CallFigures]) -> LlmRecord:
    record = empty_record()
    models = record["models"]
    for f in figures:
        key = f.key
        existing = models.get(key)
        if existing is not None and existing["provider"] != f.provider:
            key = f"{f.key} ({f.provider})"
        model = models.get(key)
        if model is None:
            model = models[key] = {
                "provider": f.provider,
                "charged_as": f.charged_as,
                "zone": f.zone,
                "hosts": [],
                "unmapped_hosts": [],
                **empty_counts(),  # type: ignore[typeddict-item]
            }
        if f.host not in model["hosts"]:
            model["hosts"].append(f.host)
        if f.provider_source == "sdk" and not f.replayed and f.host not in model["unmapped_hosts"]:
            model["unmapped_hosts"].append(f.host)
        if f.charged_as is not None:
            model["charged_as"] = f.charged_as
        values = {
            "calls": 0 if f.replayed else 1,
            "replayed": 1 if f.replayed else 0,
            "not_charged": 0 if f.replayed or f.charged else 1,
            "output_tokens": 0 if f.replayed else f.output_tokens,
            "energy_j": (f.energy_j_min + f.energy_j_max) / 2,
            "energy_j_min": f.energy_j_min,
            "energy_j_max": f.energy_j_max,
            "co2e_g": (f.co2e_g_min + f.co2e_g_max) / 2,
            "co2e_g_min": f.co2e_g_min,
            "co2e_g_max": f.co2e_g_max,
        }
        for name, value in values.items():
            model[name] += value  # type: ignore[literal-required]
            record[name] += value  # type: ignore[literal-required]
        if f.problem is not None:
            model["problem"] = f.problem
        for warning in f.warnings:
            listed = model.setdefault("warnings", [])
            if warning not in listed:
                listed.append(warning)
    return record


def empty_counts() -> dict[str, float]:
    return {name: 0 for name in SUMMED}
