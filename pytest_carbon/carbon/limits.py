"""Bounds on the carbon model's inputs: far beyond any real grid or data centre, and low
enough that every figure computed from them stays a finite number (docs/methodology.md)."""

from __future__ import annotations

# The most carbon-intensive grid in the bundled table emits 1,306 gCO2e/kWh (Ember 2024).
MAX_INTENSITY = 10_000.0
# The industry's average PUE is about 1.56 (Uptime Institute Global Data Center Survey 2024).
MAX_PUE = 10.0
