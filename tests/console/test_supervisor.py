"""The console supervisor with real Textual apps (headless): a failing console is replaced
by a new one carrying a notice; too many failures stop for real; a clean exit is final."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

from textual.app import App

from switchboard.console.signals import on_signals
from switchboard.console.supervisor import supervise


class Console(App[int]):
    """Fails on mount while ``fail`` says so, else shows and quits at once."""

    def __init__(self, notice: str | None, fail: bool) -> None:
        super().__init__()
        self.notice = notice
        self.fail = fail

    def on_mount(self) -> None:
        if self.fail:
            raise RuntimeError("a screen bug")
        self.call_later(self.exit, 7)


def factory(failures: int) -> tuple[Any, list[Console]]:
    made: list[Console] = []

    def make(notice: str | None) -> Console:
        app = Console(notice, fail=len(made) < failures)
        made.append(app)
        return app

    return make, made


async def test_a_failed_console_is_replaced_with_a_notice() -> None:
    make, made = factory(failures=2)
    code = await supervise(make, restart_notice="restarted", headless=True, signals=False)
    assert code == 7
    assert [app.notice for app in made] == [None, "restarted", "restarted"]
    assert [app.return_code for app in made] == [1, 1, 0]


async def test_a_console_that_keeps_failing_stops_for_real() -> None:
    make, made = factory(failures=99)
    code = await supervise(make, restart_notice="restarted", max_failures=3, headless=True,
                           signals=False)
    assert code == 1 and len(made) == 3


async def test_a_clean_exit_is_not_restarted() -> None:
    make, made = factory(failures=0)
    assert await supervise(make, restart_notice="x", headless=True, signals=False) == 7
    assert len(made) == 1


async def test_the_restarted_console_says_so(world: Any) -> None:
    from switchboard.console.app import build_app
    from switchboard.console.backend import InProcessBackend
    from switchboard.engine.actors import Actor

    engine, _ = world
    app = build_app(InProcessBackend(engine, Actor("operator", "admin")), clock=engine.clock,
                    cursor_blink=False, notice="restarted: see switchboard.log")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        shown = [(n.title, n.message, n.severity) for n in app._notifications]
    assert ("Console restarted", "restarted: see switchboard.log", "error") in shown


async def test_sigterm_ends_the_console_without_a_restart() -> None:
    """A real SIGTERM to this process while a (failing-prone) console runs: it closes, the
    supervisor does not start another, and the handler is gone afterwards."""
    made: list[App[int]] = []

    class Waiting(App[int]):
        def on_mount(self) -> None:
            self.set_timer(0.2, lambda: os.kill(os.getpid(), signal.SIGTERM))

    def make(notice: str | None) -> App[int]:
        made.append(Waiting())
        return made[-1]

    code = await supervise(make, restart_notice="x", headless=True)
    assert code == 0 and len(made) == 1
    assert not asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)


async def test_on_signals_calls_back_on_the_loop_and_undoes() -> None:
    seen: list[signal.Signals] = []
    remove = on_signals([signal.SIGUSR1], seen.append)
    os.kill(os.getpid(), signal.SIGUSR1)
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.01)
    remove()
    assert seen == [signal.SIGUSR1]
    assert not asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
