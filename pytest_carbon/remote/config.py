"""`[tool.pytest_carbon.llm]`: which provider and grid zone an endpoint is, and which known
model an unknown model name stands for.

    [tool.pytest_carbon.llm]
    mode = "auto"                 # or on, off (also --carbon-llm, ini carbon_llm)
    count_in_budgets = true       # budgets count hosted-model calls (default)

    [tool.pytest_carbon.llm.endpoints]
    "https://gw.example.com/v1" = "openai"
    "https://my-azure.openai.azure.com" = { provider = "openai", zone = "SWE" }

    [tool.pytest_carbon.llm.models]
    "my-ft-model" = "gpt-4o-mini"

Read at start-up without importing EcoLogits: providers are checked against the names
below, zones against the bundled country table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pytest_carbon.carbon import regions
from pytest_carbon.values.errors import CarbonConfigError

# EcoLogits' provider names, and other spellings people use for them.
PROVIDERS = ("openai", "anthropic", "mistralai", "google_genai", "cohere", "huggingface_hub")
PROVIDER_ALIASES = {
    "mistral": "mistralai",
    "google": "google_genai",
    "gemini": "google_genai",
    "google-genai": "google_genai",
    "huggingface": "huggingface_hub",
    "hf": "huggingface_hub",
}
# The public API hosts of each provider.
KNOWN_HOSTS = {
    "api.openai.com": "openai",
    "api.anthropic.com": "anthropic",
    "api.mistral.ai": "mistralai",
    "api.eu.mistral.ai": "mistralai",
    "api.us.mistral.ai": "mistralai",
    "generativelanguage.googleapis.com": "google_genai",
    "api.cohere.com": "cohere",
    "api.cohere.ai": "cohere",
    "router.huggingface.co": "huggingface_hub",
    "api-inference.huggingface.co": "huggingface_hub",
}
TABLE_KEYS = ("mode", "count_in_budgets", "endpoints", "models")
ENDPOINT_ACCEPTED = (
    "a provider name (" + ", ".join(PROVIDERS) + ') or a table { provider = "...", zone = "..." } '
    "with zone a country code (e.g. SWE, FR, USA) or WOR for the world average"
)


@dataclass(frozen=True)
class Endpoint:
    """A base URL and the provider (and grid zone) of the models behind it."""

    url: str
    scheme: str
    host: str
    port: int | None  # None: any port
    path: str
    provider: str
    zone: str | None  # ISO 3166 alpha-3 (EcoLogits' zones), WOR, or None for the provider's own
    origin: str

    def matches(self, scheme: str, host: str, port: int | None, path: str) -> bool:
        if scheme != self.scheme or host != self.host:
            return False
        if self.port is not None and port != self.port:
            return False
        return path == self.path or path.startswith(self.path.rstrip("/") + "/") or not self.path.strip("/")


@dataclass(frozen=True)
class RemoteConfig:
    endpoints: tuple[Endpoint, ...] = ()
    models: dict[str, str] = field(default_factory=dict)
    count_in_budgets: bool = True
    where: str = "pyproject.toml [tool.pytest_carbon.llm]"


def provider_name(raw: object, origin: str) -> str:
    if not isinstance(raw, str):
        raise CarbonConfigError(raw, origin, "is not a provider name", ENDPOINT_ACCEPTED)
    name = PROVIDER_ALIASES.get(raw.strip().lower(), raw.strip().lower())
    if name not in PROVIDERS:
        raise CarbonConfigError(
            raw, origin, f"is not a provider EcoLogits knows{regions.suggest(name, list(PROVIDERS))}", ENDPOINT_ACCEPTED
        )
    return name


def zone_code(raw: object, origin: str) -> str:
    if isinstance(raw, str) and raw.strip().upper() in ("WOR", "WORLD"):
        return "WOR"
    row = regions.country_row(raw) if isinstance(raw, str) and raw.strip() else None
    if row is None:
        raise CarbonConfigError(raw, origin, "is not a country code in the bundled table", ENDPOINT_ACCEPTED)
    return row["iso3"]


def _endpoint(url: object, value: object, origin: str) -> Endpoint:
    accepted = "a base URL such as 'https://gw.example.com/v1' (scheme and host, optionally port and path)"
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise CarbonConfigError(url, origin, "is not a base URL", accepted)
    if parts.username or parts.password or parts.query:
        raise CarbonConfigError(url, origin, "has credentials or a query in it", accepted)
    try:
        port = parts.port
    except ValueError:
        raise CarbonConfigError(url, origin, "has a port that is not a number", accepted) from None
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"provider", "zone"})
        if unknown:
            raise CarbonConfigError(unknown[0], origin, "is not a key of an endpoint", "the keys provider and zone")
        if "provider" not in value:
            raise CarbonConfigError(value, origin, "has no provider", ENDPOINT_ACCEPTED)
        provider = provider_name(value["provider"], f"{origin}.provider")
        zone = zone_code(value["zone"], f"{origin}.zone") if "zone" in value else None
    else:
        provider, zone = provider_name(value, origin), None
    return Endpoint(
        str(url).rstrip("/"),
        parts.scheme,
        parts.hostname.lower(),
        port,
        parts.path.rstrip("/"),
        provider,
        zone,
        origin,
    )


def parse_remote_config(table: object, where: str) -> RemoteConfig:
    """`table`: the value of `llm` in [tool.pytest_carbon] (a mode string, a table, or None)."""
    prefix = f"{where.rstrip(']')}.llm]"
    if not isinstance(table, dict):
        return RemoteConfig(where=prefix)
    for key in table:
        if key not in TABLE_KEYS:
            raise CarbonConfigError(
                key, prefix, f"is an unknown key{regions.suggest(key, list(TABLE_KEYS))}", ", ".join(TABLE_KEYS)
            )
    count = table.get("count_in_budgets", True)
    if not isinstance(count, bool):
        raise CarbonConfigError(count, f"{prefix} count_in_budgets", "is not true or false", "true or false")
    raw_endpoints = table.get("endpoints", {})
    if not isinstance(raw_endpoints, dict):
        raise CarbonConfigError(
            raw_endpoints, f"{prefix} endpoints", "is not a table", "a table of base URL = provider"
        )
    endpoints = tuple(
        _endpoint(url, value, f"{prefix.rstrip(']')}.endpoints] {url!r}") for url, value in raw_endpoints.items()
    )
    raw_models = table.get("models", {})
    if not isinstance(raw_models, dict):
        raise CarbonConfigError(raw_models, f"{prefix} models", "is not a table", "a table of model name = known model")
    models: dict[str, str] = {}
    for name, known in raw_models.items():
        if not isinstance(known, str) or not known.strip():
            raise CarbonConfigError(
                known,
                f"{prefix.rstrip(']')}.models] {name!r}",
                "is not a model name",
                "the name of a model EcoLogits knows, e.g. 'gpt-4o-mini'",
            )
        models[name] = known.strip()
    return RemoteConfig(endpoints, models, count, prefix)


def resolve_endpoint(config: RemoteConfig, url: str) -> tuple[Endpoint | None, str | None]:
    """The configured endpoint `url` falls under (the longest match), and the provider its
    host is known for."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    found = [e for e in config.endpoints if e.matches(parts.scheme, host, port, parts.path)]
    best = max(found, key=lambda e: len(e.path) + (1 if e.port is not None else 0)) if found else None
    return best, KNOWN_HOSTS.get(host)


def describe_host(url: str) -> str:
    """scheme://host[:port] of a call's URL: what notes may show (never a path or query)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return "an unknown host"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname}{port}"
