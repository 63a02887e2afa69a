"""The example Ray programs without a Ray cluster: argument parsing, the data they generate, the
result-line format. Real runs under Ray are in ``tests/integration/test_ray_programs.py``."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

PROGRAMS = Path(__file__).resolve().parents[2] / "dags_examples" / "ray_programs"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ray_programs_{name}", PROGRAMS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pipeline() -> ModuleType:
    return _load("pipeline")


@pytest.fixture(scope="module")
def results() -> ModuleType:
    return _load("__init__")


def test_parse_results_reads_every_result_line_in_order(results: ModuleType) -> None:
    log = (
        "2026-11-01 INFO worker.py -- Connected to Ray cluster.\n"
        "RESULT program=train ds=2026-11-01 lr=0.1 w=2.0023\n"
        "RESULTS are not this\n"
        "  RESULT program=indented is not a result line\n"
        "RESULT program=evaluate best_lr=0.1 val_mse=0.003726\n"
    )
    assert results.parse_results(log) == [
        {"program": "train", "ds": "2026-11-01", "lr": "0.1", "w": "2.0023"},
        {"program": "evaluate", "best_lr": "0.1", "val_mse": "0.003726"},
    ]
    assert results.parse_results("no result here\n") == []


def test_featurize_does_not_depend_on_how_rows_are_batched(pipeline: ModuleType) -> None:
    ids = np.arange(1000, dtype=np.int64)
    whole = pipeline.featurize({"id": ids}, ds="2026-11-01")
    parts = [pipeline.featurize({"id": chunk}, ds="2026-11-01") for chunk in np.array_split(ids, 7)]
    for column in ("x", "y", "is_val"):
        np.testing.assert_array_equal(whole[column], np.concatenate([p[column] for p in parts]))
    assert whole["x"].min() >= -1.0
    assert whole["x"].max() < 1.0
    assert int(whole["is_val"].sum()) == 200


def test_each_day_has_its_own_data_and_the_same_day_the_same(pipeline: ModuleType) -> None:
    x1, y1 = pipeline.day_arrays("2026-11-01", 500, validation=False)
    x1_again, y1_again = pipeline.day_arrays("2026-11-01", 500, validation=False)
    x2, _ = pipeline.day_arrays("2026-11-02", 500, validation=False)
    np.testing.assert_array_equal(x1, x1_again)
    np.testing.assert_array_equal(y1, y1_again)
    assert not np.array_equal(x1, x2)


@pytest.mark.parametrize("ds", ["2026-11-01", "2026-11-02", "2026-11-05"])
def test_fit_recovers_the_days_true_slope(pipeline: ModuleType, ds: str) -> None:
    _seed, slope = pipeline.day_params(ds)
    w, b = pipeline.fit(*pipeline.day_arrays(ds, 1000, validation=False), lr=0.5, epochs=300)
    assert w == pytest.approx(slope, abs=0.02)
    assert b == pytest.approx(pipeline.BIAS, abs=0.02)


def test_a_backfill_of_several_days_trains_several_distinct_models(pipeline: ModuleType) -> None:
    slopes = {pipeline.day_params(f"2026-11-{d:02d}")[1] for d in range(1, 8)}
    assert len(slopes) == 7


def test_a_too_large_learning_rate_diverges(pipeline: ModuleType) -> None:
    x, y = pipeline.day_arrays("2026-11-01", 200, validation=False)
    with np.errstate(over="ignore", invalid="ignore"):
        w, _b = pipeline.fit(x, y, lr=5.0, epochs=200)
    assert not math.isfinite(w) or abs(w) > 1e6


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train", "--ds", "2026-11-01"], {"lr": 0.1, "epochs": 100, "workers": 2, "rows": 1000}),
        (["train", "--ds", "2026-11-01", "--lr", "0.5", "--epochs", "5"], {"lr": 0.5, "epochs": 5}),
        (["evaluate", "--ds", "2026-11-01"], {"lrs": "0.01,0.1,0.5", "max_val_mse": 0.01}),
        (["preprocess", "--ds", "2026-11-01", "--rows", "50"], {"rows": 50, "blocks": 2}),
    ],
)
def test_pipeline_arguments(pipeline: ModuleType, argv: list[str], expected: dict[str, object]) -> None:
    args = pipeline.build_parser().parse_args(argv)
    assert args.step == argv[0]
    assert {key: getattr(args, key) for key in expected} == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["train"],  # --ds is required
        ["train", "--ds", "2026-13-01"],  # not a date
        ["train", "--ds", "yesterday"],
        ["deploy", "--ds", "2026-11-01"],  # no such step
        ["train", "--ds", "2026-11-01", "--lr", "fast"],
    ],
)
def test_pipeline_rejects_bad_arguments(
    pipeline: ModuleType, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        pipeline.build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_fail_on_purpose_in_the_driver_exits_with_its_code_before_any_ray_work(
    capsys: pytest.CaptureFixture[str],
) -> None:
    program = _load("fail_on_purpose")
    assert program.main(["--where", "driver", "--exit-code", "7", "--reason", "disk full"]) == 7
    out = capsys.readouterr().out
    assert "FAILING ON PURPOSE where=driver reason='disk full'" in out
    assert "ERROR deliberate failure from fail_on_purpose.py: disk full" in out


def test_sum_of_squares_rejects_a_non_positive_n(capsys: pytest.CaptureFixture[str]) -> None:
    program = _load("sum_of_squares")
    with pytest.raises(SystemExit):
        program.main(["--n", "0"])
    assert "--n must be at least 1" in capsys.readouterr().err
