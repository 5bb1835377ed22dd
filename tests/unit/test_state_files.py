"""The JSON state files: a transient read error (too many open files) never makes a good file
look empty, only a file that does not parse is set aside, and two processes writing the same
file (the GUI and a CLI run) never collide on a temporary file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.hub.queue import DownloadJob, JobStore
from workbench.store.state_file import read_json_state, write_json_atomic

REPO_ROOT = Path(__file__).resolve().parents[2]


def _python(script: str, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _job(number: int) -> DownloadJob:
    return DownloadJob(id=f"job{number:09d}", repo_id="o/n", revision="main", commit=None,
                       name=f"m{number}.gguf", quant=None, files=[])


def test_too_many_open_files_while_saving_a_job_keeps_every_other_job(tmp_path: Path) -> None:
    path = tmp_path / "downloads.json"
    store = JobStore(path)
    for number in range(3):
        store.save(_job(number))
    # a real EMFILE: the process runs out of file descriptors with one left for the lock
    result = _python("""
        import os, resource, sys
        from pathlib import Path
        import filelock  # imported before the descriptors run out
        from workbench.hub.queue import DownloadJob, JobStore
        from workbench.store import state_file  # noqa: F401
        store = JobStore(Path(sys.argv[1]))
        job = DownloadJob(id="job999999999", repo_id="o/n", revision="main", commit=None,
                          name="new.gguf", quant=None, files=[])
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(
            resource.RLIMIT_NOFILE)[1]))
        fds = []
        try:
            while True:
                fds.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        os.close(fds.pop())
        try:
            store.save(job)
            print("saved")
        except Exception as err:
            print("refused:", type(err).__name__, err)
        """, str(path))
    assert "refused:" in result.stdout, result.stdout + result.stderr
    assert "Too many open files" in result.stdout or "Errno 24" in result.stdout
    assert sorted(store.load()) == [f"job{n:09d}" for n in range(3)]
    assert not path.with_name(path.name + ".broken").exists()


def test_only_a_file_that_does_not_parse_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"jobs": [', encoding="utf-8")
    assert read_json_state(path, default={}) == {}
    assert path.with_name("state.json.broken").read_text(encoding="utf-8") == '{"jobs": ['
    assert not path.exists()
    write_json_atomic(path, {"a": 1})
    assert read_json_state(path) == {"a": 1}


def test_two_processes_saving_verdicts_never_collide(tmp_path: Path) -> None:
    """The GUI and a CLI run both remember repacking verdicts in the same file."""
    script = """
        import sys, time
        from workbench.engine import repack_probe
        from workbench.engine.repack_probe import RepackVerdict
        fields = RepackVerdict.__dataclass_fields__
        errors = 0
        for i in range(150):
            values = {"safe": True, "reason": "test", "key": f"{sys.argv[1]}-{i}",
                      "quant": "Q4_0", "probed_at": time.time()}
            try:
                repack_probe._save_verdict(RepackVerdict(**{k: v for k, v in values.items()
                                                            if k in fields}))
            except OSError as err:
                errors += 1
                last = err
        print("errors", errors, last if errors else "")
        """
    env = {"WORKBENCH_HOME": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), name],
                              cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, **env}) for name in ("gui", "cli")]
    outputs = [p.communicate(timeout=120) for p in procs]
    for out, err in outputs:
        assert out.startswith("errors 0"), out + err
    verdicts = json.loads((tmp_path / "data" / "repack-probe.json").read_text())
    assert isinstance(verdicts, dict) and verdicts
    assert not [p.name for p in (tmp_path / "data").iterdir() if p.name.endswith(".tmp")]


def test_writes_leave_no_temporary_files_and_replace_atomically(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    for number in range(5):
        write_json_atomic(path, {"n": number})
    assert json.loads(path.read_text()) == {"n": 4}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"n": 4}  # the old file is intact


def test_a_hand_edited_file_that_does_not_parse_is_reported_with_its_line_and_kept(
        tmp_path: Path) -> None:
    from workbench.errors import BadInput
    from workbench.store.state_file import read_json_document

    path = tmp_path / "settings.json"
    assert read_json_document(path, "settings file") is None  # missing
    path.write_text('{"offline": true,\n "x": }', encoding="utf-8")
    with pytest.raises(BadInput, match=r"the settings file .* is not valid JSON \(line 2\): "
                                       "fix or delete it"):
        read_json_document(path, "settings file")
    assert path.exists() and not path.with_name("settings.json.broken").exists()
    path.write_text('{"offline": true}', encoding="utf-8")
    assert read_json_document(path, "settings file") == {"offline": True}


def test_a_broken_calibration_cache_is_set_aside_and_reads_as_empty(home: Path) -> None:
    from workbench.planner import calibration

    path = calibration.cache_path()
    assert home in path.parents
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"calibrations": {', encoding="utf-8")
    assert calibration.cached_calibrations() == {}
    assert path.with_name(path.name + ".broken").exists() and not path.exists()
    path.write_text('["not", "an", "object"]', encoding="utf-8")
    assert calibration.cached_calibrations() == {}
