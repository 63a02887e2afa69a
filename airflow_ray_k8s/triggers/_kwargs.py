"""What the provider's triggers share: their kwargs are their ``__init__`` parameters, each kept as
the attribute of the same name, so :meth:`serialize` and the wait they run are built from one list
(cheap to import: the operators' ``defer`` imports the triggers on the parse path)."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger


class ParameterTrigger(BaseTrigger):
    """A trigger that serializes exactly its keyword parameters.

    Subclasses store every ``__init__`` parameter as an attribute of the same name; a parameter
    added to ``__init__`` is serialized (and reaches the wait) without a second list to keep in
    step. ``TRIGGER_ONLY`` names the parameters the trigger itself uses and its wait does not take.
    """

    TRIGGER_ONLY: ClassVar[frozenset[str]] = frozenset({"kuberay_conn_id", "delete_on_kill"})
    kuberay_conn_id: str

    @classmethod
    def parameters(cls) -> list[str]:
        """The keyword parameters of ``__init__``, in their order."""
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and the kwargs that rebuild this trigger in any triggerer."""
        kwargs = {name: getattr(self, name) for name in self.parameters()}
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def wait_kwargs(self) -> dict[str, Any]:
        """The wait's arguments: every parameter but ``TRIGGER_ONLY``, and the connection id."""
        _, kwargs = self.serialize()
        kept = {name: value for name, value in kwargs.items() if name not in self.TRIGGER_ONLY}
        return {"conn_id": self.kuberay_conn_id, **kept}
