"""Which shard of a split suite this run is, for `python -m pytest_carbon combine` to name it.

The label comes from --carbon-shard (or its pyproject key or ini option), else from
pytest-split's --group/--splits, else from the CI's parallel node index (GitLab
`parallel:`, CircleCI `parallelism`, Buildkite parallel jobs). The CI variables that name
the job are recorded beside it, checked and shortened like any text from outside.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pytest

from pytest_carbon.config.settings import Settings
from pytest_carbon.schema import ShardInfoRecord

# Variables that name the CI job a run belongs to, per provider.
CI_VARIABLES = (
    "GITHUB_WORKFLOW",
    "GITHUB_JOB",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "CI_JOB_NAME",
    "CI_JOB_ID",
    "CI_PIPELINE_ID",
    "CI_NODE_INDEX",
    "CI_NODE_TOTAL",
    "CIRCLE_JOB",
    "CIRCLE_BUILD_NUM",
    "CIRCLE_NODE_INDEX",
    "CIRCLE_NODE_TOTAL",
    "BUILDKITE_LABEL",
    "BUILDKITE_JOB_ID",
    "BUILDKITE_PARALLEL_JOB",
    "BUILDKITE_PARALLEL_JOB_COUNT",
)
# (index variable, total variable, whether the index counts from 0)
CI_NODES = (
    ("CI_NODE_INDEX", "CI_NODE_TOTAL", False),
    ("CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", True),
    ("BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", True),
)
MAX_VALUE = 200


def _ci(environ: Mapping[str, str]) -> dict[str, str]:
    found = {}
    for name in CI_VARIABLES:
        value = environ.get(name, "")
        value = "".join(c if c.isprintable() else "?" for c in value.strip())[:MAX_VALUE]
        if value:
            found[name] = value
    return found


def _split(label: str) -> tuple[int | None, int | None]:
    index, _, total = label.partition("/")
    if index.isdigit() and total.isdigit():
        return int(index), int(total)
    return None, None


def _from_ci(environ: Mapping[str, str]) -> tuple[str, str] | None:
    for index_name, total_name, from_zero in CI_NODES:
        index, total = environ.get(index_name, ""), environ.get(total_name, "")
        if index.isdigit() and total.isdigit() and int(total) > 1:
            number = int(index) + (1 if from_zero else 0)
            if 1 <= number <= int(total):
                return f"{number}/{int(total)}", f"{index_name}/{total_name}"
    return None


def shard_info(
    config: pytest.Config, settings: Settings, environ: Mapping[str, str] = os.environ
) -> ShardInfoRecord | None:
    """This run's shard, or None when nothing says the suite is split or which CI job this is."""
    label: str | None = settings.value("shard")
    origin: str | None = settings["shard"].origin if label else None
    splits, group = getattr(config.option, "splits", None), getattr(config.option, "group", None)
    if label is None and isinstance(splits, int) and isinstance(group, int) and 1 <= group <= splits:
        label, origin = f"{group}/{splits}", "pytest-split --group/--splits"
    if label is None and (found := _from_ci(environ)) is not None:
        label, origin = found
    ci = _ci(environ)
    if label is None and not ci:
        return None
    index, total = _split(label) if label else (None, None)
    return {"label": label, "origin": origin, "index": index, "total": total, "ci": ci}
