"""Common base of the command mixins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class CommandMixin:
    """Base of every command mixin: the concrete client supplies ``execute_command``.

    ``execute_command`` is only declared for type checkers, so that it never
    shadows the client's implementation in the method resolution order.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        def execute_command(self, *args: Any, **options: Any) -> Any: ...
