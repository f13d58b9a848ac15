"""ResumeGuard with real signals sent to this process (handlers that do not stop it)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from switchboard.console.resume_guard import ResumeGuard


@pytest.fixture
def driver_handlers() -> Iterator[list[str]]:
    """Stand-ins for Textual's driver handlers, recording what reached them."""
    calls: list[str] = []
    saved = {s: signal.getsignal(s) for s in (signal.SIGTSTP, signal.SIGCONT)}
    signal.signal(signal.SIGTSTP, lambda *_: calls.append("suspend"))
    signal.signal(signal.SIGCONT, lambda *_: calls.append("resume"))
    yield calls
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def _send(signum: int) -> None:
    os.kill(os.getpid(), signum)
    time.sleep(0.01)  # Python runs the handler at the next bytecode boundary


def test_a_hangup_sigcont_does_not_restart_the_screen(driver_handlers: list[str]) -> None:
    guard = ResumeGuard()
    guard.install()
    _send(signal.SIGCONT)
    assert driver_handlers == []


def test_a_real_suspend_still_resumes(driver_handlers: list[str]) -> None:
    guard = ResumeGuard()
    guard.install()
    _send(signal.SIGTSTP)
    _send(signal.SIGCONT)
    _send(signal.SIGCONT)  # a second, unrelated SIGCONT is dropped again
    assert driver_handlers == ["suspend", "resume"]


def test_uninstall_restores_the_driver_handlers(driver_handlers: list[str]) -> None:
    guard = ResumeGuard()
    guard.install()
    guard.uninstall()
    _send(signal.SIGCONT)
    assert driver_handlers == ["resume"]


def test_headless_drivers_are_left_alone() -> None:
    saved = signal.getsignal(signal.SIGCONT)
    signal.signal(signal.SIGCONT, signal.SIG_DFL)
    try:
        guard = ResumeGuard()
        guard.install()
        assert signal.getsignal(signal.SIGCONT) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGCONT, saved)
