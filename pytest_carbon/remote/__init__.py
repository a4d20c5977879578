"""Hosted models: the LLM API calls tests make, charged to the account that made them.

config.py reads `--carbon-llm` and `[tool.pytest_carbon.llm]`; hooks.py waits for an SDK
to be imported (nothing is imported or patched before); instrument.py observes each call
(sync, async, streamed) and appends a plain `RemoteCall` to the call log (calls.py);
charge.py turns the calls into figures with EcoLogits at the end; tracker.py is what the
session holds. The figures of a call are those of where the model runs, not of this
machine: EcoLogits' provider PUE and grid zone, or the zone an endpoint is mapped to.
"""
