"""Typed uagents messages between the agents (sender and receiver import this same class:
the schema digest covers the class name and docstring, so do not rename or re-document it
without restarting every agent)."""

from __future__ import annotations

from uagents import Model


class ForecastMessage(Model):
    """The demand forecaster's forecast for one observation (step and observation digest)."""

    step: int
    obs_digest: str
    forecast_json: str
