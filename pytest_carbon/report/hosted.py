"""How hosted-model calls are worded, for every renderer: the summary line, the models
table, the notes (models not charged, EcoLogits' warnings, unmapped hosts) and the remote
part of a budget failure."""

from __future__ import annotations

from pytest_carbon.schema import LlmModelRecord, LlmRecord, LlmSessionRecord
from pytest_carbon.values.quantities import format_energy, format_mass

MODELS_HEADER = ["model", "provider", "calls", "replayed", "output tokens", "Wh", "gCO2e", "gCO2e range"]


def energy_range(record: LlmRecord | LlmModelRecord) -> str:
    return f"{format_energy(record['energy_j_min'])}-{format_energy(record['energy_j_max'])}"


def mass_range(record: LlmRecord | LlmModelRecord) -> str:
    return f"{format_mass(record['co2e_g_min'])}-{format_mass(record['co2e_g_max'])}"


def counts(record: LlmRecord | LlmModelRecord) -> str:
    text = f"{record['calls']} call{'s' if record['calls'] != 1 else ''}"
    if record["replayed"]:
        text += f", {record['replayed']} replayed (charged nothing)"
    if record["not_charged"]:
        text += f", {record['not_charged']} not charged (unknown model)"
    return text


def hosted_line(llm: LlmSessionRecord) -> str:
    embodied = "embodied included" if llm["embodied_included"] else "embodied excluded"
    budgets = "counted in budgets" if llm["count_in_budgets"] else "not counted in budgets"
    return (
        f"hosted models: {counts(llm)}, {llm['output_tokens']} output tokens; "
        f"{format_energy(llm['energy_j'])} ({energy_range(llm)}), {format_mass(llm['co2e_g'])} ({mass_range(llm)}) "
        f"where the models run ({llm['method'].split(':')[0]}: provider PUE and grid; {embodied}); {budgets}"
    )


def model_rows(llm: LlmRecord, top: int | None = None) -> list[list[str]]:
    """The costliest models first, as table cells (MODELS_HEADER)."""
    ranked = sorted(llm["models"].items(), key=lambda item: (item[1]["co2e_g"], item[1]["calls"]), reverse=True)
    rows = []
    for name, model in ranked[:top] if top else ranked:
        charged = model["charged_as"]
        label = name if charged in (None, name) else f"{name} (as {charged})"
        rows.append(
            [
                label,
                model["provider"],
                str(model["calls"]),
                str(model["replayed"]),
                str(model["output_tokens"]),
                f"{model['energy_j'] / 3600:.3g}",
                f"{model['co2e_g']:.3g}",
                "not charged" if model["calls"] and model["not_charged"] == model["calls"] else mass_range(model),
            ]
        )
    return rows


def hosted_notes(llm: LlmSessionRecord) -> list[str]:
    notes = []
    warned: dict[str, list[str]] = {}
    unmapped: dict[str, set[str]] = {}
    for name, model in sorted(llm["models"].items()):
        if model["not_charged"]:
            notes.append(
                f"hosted model {name!r} ({model['provider']}, {model['not_charged']} "
                f"call{'s' if model['not_charged'] != 1 else ''}) not charged: "
                f"{model.get('problem', 'EcoLogits cannot estimate it')}; if it is a known model under another "
                f'name, map it in [tool.pytest_carbon.llm.models], e.g. "{name}" = "gpt-4o-mini"'
            )
        for warning in model.get("warnings", []):
            warned.setdefault(warning, []).append(name)
        for host in model["unmapped_hosts"]:
            unmapped.setdefault(host, set()).add(model["provider"])
    for warning, names in warned.items():
        notes.append(f"EcoLogits on {', '.join(names)}: {warning}")
    for host, providers in sorted(unmapped.items()):
        notes.append(
            f"calls to {host} were charged as {', '.join(sorted(providers))} (the SDK's provider, at its grid zone): "
            "the host is not a provider's public API; map it in [tool.pytest_carbon.llm.endpoints] "
            f'to set the provider and zone, e.g. "{host}" = {{ provider = "openai", zone = "USA" }}'
        )
    return notes


def budget_remote_lines(llm: LlmRecord, local_j: float, local_g: float) -> list[str]:
    """The remote part under a test's budget failure, and the total the budget judged."""
    lines = [
        f"counted with hosted models: {format_energy(local_j + llm['energy_j'])} -> "
        f"{format_mass(local_g + llm['co2e_g'])} (local {format_mass(local_g)} + hosted {format_mass(llm['co2e_g'])})",
        f"hosted models (setup + call): {counts(llm)}, {llm['output_tokens']} output tokens, "
        f"{format_energy(llm['energy_j'])} ({energy_range(llm)}) -> {format_mass(llm['co2e_g'])} ({mass_range(llm)}), "
        "at the provider's PUE and grid (EcoLogits)",
    ]
    for name, model in sorted(llm["models"].items(), key=lambda item: item[1]["co2e_g"], reverse=True):
        lines.append(
            f"  {name} ({model['provider']}): {counts(model)}, {model['output_tokens']} tokens, "
            f"{format_energy(model['energy_j'])}, {format_mass(model['co2e_g'])}"
        )
    return lines
