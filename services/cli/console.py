"""What every CLI command shares: one console, clean failures, running coroutines.

Expected failures (RefNet's own errors) print one red line and exit 1; only a
real bug shows a traceback.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from refnet.events.errors import RefNetError

# soft_wrap: long lines stay whole, so messages can be grepped and piped.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

P = ParamSpec("P")
T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` as an error and exit."""
    err_console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def friendly(func: Callable[P, T]) -> Callable[P, T]:
    """Turn RefNet's expected errors into one readable line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except RefNetError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", code=130)

    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from a synchronous command."""
    return asyncio.run(coro)
