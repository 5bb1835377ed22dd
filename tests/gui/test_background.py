"""The UI task runner (ui/background.py) with real threads and a real event loop."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject

from workbench.cancel import CancelToken
from workbench.ui.background import BackgroundCall, Relay, Task, TaskRunner

WAIT_MS = 10_000


def test_progress_and_the_result_arrive_on_the_gui_thread_in_order(qtbot) -> None:
    main = threading.current_thread()
    worker_threads: list[threading.Thread] = []
    seen: list[tuple[str, object, bool]] = []

    def work(progress, cancel: CancelToken) -> str:
        worker_threads.append(threading.current_thread())
        for step in range(5):
            progress(step)
        return "done"

    task = Task(work)
    task.progressed.connect(lambda v: seen.append(("progress", v,
                                                   threading.current_thread() is main)))
    task.finished.connect(lambda v: seen.append(("result", v,
                                                 threading.current_thread() is main)))
    with qtbot.waitSignal(task.finished, timeout=WAIT_MS):
        task.start()
    assert worker_threads and worker_threads[0] is not main  # the work ran off the GUI thread
    assert [s[:2] for s in seen] == [("progress", i) for i in range(5)] + [("result", "done")]
    assert all(on_main for *_, on_main in seen)
    assert not task.running and task.done


def test_an_exception_becomes_the_failed_signal(qtbot) -> None:
    def work(progress, cancel):
        raise ValueError("broken")

    task = Task(work)
    results: list[object] = []
    task.finished.connect(results.append)
    with qtbot.waitSignal(task.failed, timeout=WAIT_MS) as blocker:
        task.start()
    assert isinstance(blocker.args[0], ValueError) and str(blocker.args[0]) == "broken"
    assert results == []


def test_cancel_stops_the_work_and_drops_its_result(qtbot) -> None:
    started = threading.Event()
    stopped = threading.Event()

    def work(progress, cancel: CancelToken) -> str:
        started.set()
        while not cancel.wait(0.01):
            progress("tick")
        stopped.set()
        return "late result"

    task = Task(work)
    reported: list[object] = []
    task.progressed.connect(reported.append)
    task.finished.connect(reported.append)
    task.failed.connect(reported.append)
    task.start()
    assert started.wait(10)
    qtbot.waitUntil(lambda: bool(reported), timeout=WAIT_MS)  # progress flows while it runs
    with qtbot.waitSignal(task.cancelled, timeout=WAIT_MS):
        task.cancel()
        count = len(reported)
    assert stopped.is_set()  # the callable saw the token and returned
    assert len(reported) == count and "late result" not in reported  # nothing after cancel()


def test_a_superseded_task_never_reaches_the_page(qtbot) -> None:
    release = threading.Event()
    runner = TaskRunner()
    results: list[str] = []

    def slow(progress, cancel) -> str:
        release.wait(10)  # ignores the token: its result comes late, and must be dropped
        return "stale"

    first = runner.run(slow, on_result=results.append, on_progress=results.append)
    assert runner.busy()
    second = runner.run(lambda progress, cancel: "fresh", on_result=results.append)
    assert first.is_cancelled and not second.is_cancelled
    qtbot.waitUntil(lambda: results == ["fresh"], timeout=WAIT_MS)
    with qtbot.waitSignal(first.cancelled, timeout=WAIT_MS):
        release.set()
    qtbot.wait(20)
    assert results == ["fresh"]
    assert not runner.busy() and runner.current() is None


def test_tasks_under_other_keys_run_side_by_side(qtbot) -> None:
    runner = TaskRunner()
    results: list[str] = []
    runner.run(lambda p, c: "a", key="a", on_result=results.append)
    runner.run(lambda p, c: "b", key="b", on_result=results.append)
    qtbot.waitUntil(lambda: sorted(results) == ["a", "b"], timeout=WAIT_MS)
    runner.cancel_all()  # nothing left running: a no-op


def test_an_error_of_a_cancelled_task_is_dropped_too(qtbot) -> None:
    runner = TaskRunner()
    errors: list[BaseException] = []
    cancelled: list[bool] = []

    def work(progress, cancel: CancelToken) -> None:
        if cancel.wait(10):
            raise RuntimeError("stopped")

    task = runner.run(work, on_error=errors.append, on_cancelled=lambda: cancelled.append(True))
    with qtbot.waitSignal(task.cancelled, timeout=WAIT_MS):
        runner.cancel()
    assert errors == [] and cancelled == [True]


def test_latest_progress_keeps_the_newest_value_and_the_last_one_comes_first(qtbot) -> None:
    release = threading.Event()

    def work(progress, cancel) -> str:
        for value in range(1000):
            progress(value)
        release.wait(10)
        return "end"

    task = Task(work, latest_progress=True, progress_interval_ms=50)
    seen: list[object] = []
    task.progressed.connect(seen.append)
    task.finished.connect(seen.append)
    task.start()
    qtbot.waitUntil(lambda: 999 in seen, timeout=WAIT_MS)
    with qtbot.waitSignal(task.finished, timeout=WAIT_MS):
        release.set()
    assert len(seen) < 100  # coalesced, not 1000 deliveries
    assert seen[-2:] == [999, "end"] and seen == [*sorted(seen[:-1]), "end"]


def test_a_task_whose_parent_is_deleted_is_cancelled(qtbot) -> None:
    parent = QObject()

    def work(progress, cancel: CancelToken) -> bool:
        return cancel.wait(10)

    task = Task(work, parent)
    token = task.token
    task.start()
    parent.deleteLater()
    qtbot.waitUntil(token.is_set, timeout=WAIT_MS)


def test_a_relay_carries_pushes_from_other_threads_and_stops_when_closed(qtbot) -> None:
    main = threading.current_thread()
    relay = Relay()
    seen: list[tuple[int, bool]] = []
    relay.delivered.connect(lambda v: seen.append((v, threading.current_thread() is main)))
    threads = [threading.Thread(target=relay.push, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    qtbot.waitUntil(lambda: len(seen) == 10, timeout=WAIT_MS)
    assert sorted(v for v, _ in seen) == list(range(10)) and all(m for _, m in seen)
    relay.push(99)  # on its way when the relay closes: dropped
    relay.close()
    relay.push(100)
    qtbot.wait(20)
    assert len(seen) == 10


@pytest.mark.parametrize("fails", [False, True])
def test_background_call_still_runs_a_plain_call(qtbot, fails: bool) -> None:
    def fn() -> int:
        if fails:
            raise RuntimeError("no")
        return 7

    call = BackgroundCall(fn)
    signal = call.failed if fails else call.finished
    with qtbot.waitSignal(signal, timeout=WAIT_MS) as blocker:
        call.start()
    assert (str(blocker.args[0]) == "no") if fails else blocker.args == [7]
    assert not call.running


def test_deleting_a_runner_with_its_page_cancels_its_tasks(qtbot) -> None:
    page = QObject()
    runner = TaskRunner(page)
    results: list[object] = []
    task = runner.run(lambda p, cancel: cancel.wait(10), on_result=results.append)
    token = task.token
    page.deleteLater()
    qtbot.waitUntil(token.is_set, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: task.done, timeout=WAIT_MS)
    assert results == []


def test_wait_blocks_until_the_work_has_returned(qtbot) -> None:
    release = threading.Event()
    task = Task(lambda p, c: release.wait(10))
    assert task.wait(0)  # never started: nothing to wait for
    task.start()
    assert not task.wait(0.02)
    release.set()
    assert task.wait(10)
    qtbot.waitUntil(lambda: task.done, timeout=WAIT_MS)


def test_a_result_callback_may_start_the_next_task_under_the_same_key(qtbot) -> None:
    runner = TaskRunner()
    results: list[str] = []

    def first_done(value: str) -> None:
        results.append(value)
        runner.run(lambda p, c: "second", on_result=results.append)

    first = runner.run(lambda p, c: "first", on_result=first_done)
    qtbot.waitUntil(lambda: results == ["first", "second"], timeout=WAIT_MS)
    assert not first.is_cancelled


def test_finished_runner_tasks_are_freed(qtbot) -> None:
    import gc
    import weakref

    runner = TaskRunner()
    results: list[int] = []
    tasks = []
    for number in range(5):
        task = runner.run(lambda p, c, n=number: n, on_result=results.append)
        tasks.append(weakref.ref(task))
        del task
        qtbot.waitUntil(lambda n=number: len(results) > n, timeout=WAIT_MS)
    qtbot.wait(20)  # the tasks let go of themselves once their last slot has returned
    gc.collect()
    assert results == list(range(5))
    assert [ref() for ref in tasks] == [None] * 5
