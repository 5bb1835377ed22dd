"""The installed Qt binding must not leak references to None/True/False.

PySide6 6.12.0 drops one reference to None on every void C++ call and one to True on every
signal emitted from Python; before Python 3.12 (where they are immortal) a long session then
aborts with "none_dealloc"/"bool_dealloc". pyproject.toml excludes that version; this test
catches the next binding that does it again, in a child process (the failure is an abort).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QObject, Signal
    from PySide6.QtWidgets import QApplication, QLabel

    class Emitter(QObject):
        changed = Signal(bool)
        text = Signal(str)

    app = QApplication([])
    label, emitter = QLabel(), Emitter()
    emitter.text.connect(label.setText)
    before = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    for i in range(300):
        label.setText("x")          # a void C++ method
        emitter.changed.emit(True)  # a signal emitted from Python
        emitter.text.emit("y")
    after = sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)
    print([b - a for a, b in zip(before, after)])
""")


def test_void_calls_and_emits_keep_singleton_refcounts() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr[-2000:]
    drift = [int(n) for n in result.stdout.strip().strip("[]").split(",")]
    if sys.version_info < (3, 12):
        assert all(abs(n) < 50 for n in drift), f"None/True/False refcounts drifted by {drift}"
