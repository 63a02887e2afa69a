"""The served model of ``example_ray_train_and_serve``: a linear model whose weights come from the
Serve config (the application's ``args``), so a new model is a new config, not a new image.

Ray Serve imports this module on the head (``import_path: linear_serve:app``); the example puts
this folder on the application's ``PYTHONPATH`` through its ``runtime_env``, as the RayJob
examples do for their programs. ``POST {"features": [x1, ...]}`` answers
``{"prediction": w.x + b, "version": ..., "weights": [...], "bias": ...}``.
"""

from __future__ import annotations

from typing import Any

from ray import serve
from starlette.requests import Request


@serve.deployment
class LinearModel:
    """``w . x + b`` with the weights it was deployed with."""

    def __init__(self, weights: list[float], bias: float, version: str) -> None:
        self.weights = [float(w) for w in weights]
        self.bias = float(bias)
        self.version = version

    async def __call__(self, request: Request) -> dict[str, Any]:
        body = await request.json()
        features = [float(x) for x in body["features"]]
        if len(features) != len(self.weights):
            raise ValueError(f"features must have {len(self.weights)} values, got {len(features)}")
        prediction = sum(w * x for w, x in zip(self.weights, features, strict=True)) + self.bias
        return {"prediction": prediction, "version": self.version, "weights": self.weights, "bias": self.bias}


def app(args: dict[str, Any]) -> Any:
    """The application builder Serve calls with the config's ``args``: ``weights``, ``bias``, ``version``."""
    return LinearModel.bind(list(args["weights"]), float(args["bias"]), str(args.get("version", "")))
