"""``@task.ray`` without a cluster: registration, arguments, and the RayJob it would submit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_ray_k8s._taskflow import arguments, entrypoint
from airflow_ray_k8s.decorators.ray_task import RayDecoratedOperator
from airflow_ray_k8s.operators.rayjob import RayJobOperator
from tests.unit.operators.test_rayjob_operator import CLUSTER, ctx
from tests.unit.taskflow import functions as f

START = datetime(2026, 1, 1)


def test_task_ray_builds_a_ray_decorated_operator_with_every_rayjob_argument() -> None:
    with DAG("d", start_date=START, schedule=None):
        op = task.ray(
            ray_cluster_spec=CLUSTER, runtime_env={"pip": ["numpy"]}, deferrable=True, log_interval=2
        )(f.add.function)(1, b=3)
    operator = op.operator
    assert isinstance(operator, RayDecoratedOperator)
    assert isinstance(operator, RayJobOperator)
    assert list(operator.op_args) == [1]
    assert operator.op_kwargs == {"b": 3}
    assert operator.multiple_outputs is True, "inferred from the dict return annotation"
    assert operator.deferrable is True
    assert operator.log_interval == 2.0
    assert operator.runtime_env == {"pip": ["numpy"]}


def test_templated_fields_are_rayjobs_but_the_entrypoint_plus_the_arguments() -> None:
    fields = set(RayDecoratedOperator.template_fields)
    assert "entrypoint" not in fields, "built from the function, not rendered"
    assert {"op_args", "op_kwargs", "cluster_name", "runtime_env", "ray_cluster_spec"} <= fields


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"entrypoint": "python x.py"}, "do not pass one"),
        ({"serializer": "yaml"}, "serializer must be one of json, pickle"),
        ({"wait_for_completion": False}, "waits for the job"),
        ({"python": " "}, "python must name the interpreter"),
        ({}, "exactly one of ray_cluster_spec"),
    ],
)
def test_bad_arguments_fail_at_parse_time(kwargs: dict[str, Any], match: str) -> None:
    if match != "exactly one of ray_cluster_spec":
        kwargs.setdefault("cluster_name", "shared")
    with DAG("d", start_date=START, schedule=None), pytest.raises(ValueError, match=match):
        task.ray(**kwargs)(f.add.function)(1)


def test_the_rayjob_runs_the_function_with_the_rendered_arguments_on_the_shared_cluster() -> None:
    with DAG("d", start_date=START, schedule=None):
        op = f.add(5).operator
    context = {**ctx(dag_id="d", task_id="add"), "ds": "2026-11-03"}
    op.entrypoint = op.build_entrypoint(context)
    body = op.build_rayjob(context, "ray")
    assert body["spec"]["clusterSelector"] == {"ray.io/cluster": "shared"}
    bundle = entrypoint.decode(body["spec"]["entrypoint"])
    assert bundle["function"]["name"] == "add"
    # ds is a context key the function takes: filled from the context.
    assert bundle["arguments"] == {"serializer": "json", "data": [[5], {"ds": "2026-11-03"}]}
    assert bundle["task"] == "d.add"


def test_a_function_that_cannot_run_alone_fails_before_anything_is_sent() -> None:
    with DAG("d", start_date=START, schedule=None):
        op = task.ray(cluster_name="shared")(f.uses_module_names)(1).operator
    # No connection exists here: reaching the cluster would fail differently.
    with pytest.raises(AirflowFailException, match=r"uses_module_names: .*SCALE, json from the DAG file"):
        op.execute(ctx(dag_id="d", task_id="uses_module_names"))


def test_an_argument_json_cannot_hold_fails_before_anything_is_sent() -> None:
    with DAG("d", start_date=START, schedule=None):
        op = task.ray(cluster_name="shared")(f.takes_context)(x={1, 2}).operator
    with pytest.raises(AirflowFailException, match=r"argument 'x' of takes_context\(\) is of type set"):
        op.execute({**ctx(), "ds": "2026-11-03", "params": {}})


def test_context_keys_the_function_takes_are_filled_when_json() -> None:
    class Params(dict[str, Any]):
        def dump(self) -> dict[str, Any]:
            return dict(self)

    args, kwargs = arguments.call_arguments(
        f.takes_context, [7], {}, {"ds": "2026-11-03", "params": Params(lr=0.1), "ti": object()}
    )
    assert (args, kwargs) == ([7], {"ds": "2026-11-03", "params": {"lr": 0.1}})
    args, kwargs = arguments.call_arguments(f.takes_context, [7], {"ds": "given"}, {"ds": "context"})
    assert kwargs["ds"] == "given"

    def wants_ti(ti: object = None) -> None: ...

    with pytest.raises(arguments.ArgumentError, match="takes the context key 'ti'"):
        arguments.call_arguments(wants_ti, [], {}, {"ti": object()})


def test_mapped_tasks_expand_over_the_functions_arguments() -> None:
    with DAG("d", start_date=START, schedule=None) as dag:
        f.add.partial(b=1).expand(a=[1, 2, 3])
    mapped = dag.get_task("add")
    assert mapped.operator_class is RayDecoratedOperator
    assert mapped.op_kwargs_expand_input.value == {"a": [1, 2, 3]}
    assert mapped.partial_kwargs["op_kwargs"] == {"b": 1}


def test_setup_and_teardown_wrap_ray_tasks() -> None:
    with DAG("d", start_date=START, schedule=None) as dag:
        f.nested_failure(1)
    assert dag.get_task("nested_failure").is_setup
