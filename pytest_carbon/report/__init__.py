"""Reporters: each renders the one report record built by `report.record`."""
