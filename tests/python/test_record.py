"""memsight.record()'s logic on the CPU, against a stand-in for PyTorch (fake_torch/): when
history is turned on and off, what each step() leaves, the dump at an OOM and at the end, the
atomic write. That it works with the real PyTorch on a GPU is scripts/check_record.py's job
(README, "Checked on a GPU")."""

import os
import pickle
import sys
from pathlib import Path

import pytest

import memsight

FAKE = Path(__file__).parent / "fake_torch"


@pytest.fixture
def torch(monkeypatch):
    monkeypatch.syspath_prepend(str(FAKE))
    sys.modules.pop("torch", None)
    import torch as fake

    assert fake.__file__.startswith(str(FAKE)), "the stand-in, not a real PyTorch"
    fake.CALLS.clear()
    fake.OBSERVERS.clear()
    fake.FAIL_RANGE["on"] = False
    import memsight._record as r

    monkeypatch.setattr(r, "_OBSERVER_ATTACHED", False)
    yield fake
    sys.modules.pop("torch", None)
    assert r._ACTIVE is None, "a recording was left active"


def test_history_steps_and_dump(torch, tmp_path):
    path = tmp_path / "run.pickle"
    with memsight.record(path, max_entries=1234) as rec:
        assert torch.HISTORY["enabled"] == "all"
        rec.step()
        memsight.step()
    assert torch.CALLS == [
        ("history", "all", "all", "python", 1234),
        ("enter", "memsight.step#0"),
        ("exit", "memsight.step#0"),
        ("enter", "memsight.step#1"),
        ("exit", "memsight.step#1"),
        ("enter", "memsight.step#2"),
        ("exit", "memsight.step#2"),
        ("snapshot",),
        ("history", None, "all", "all", 0),
    ]
    assert rec.steps == 2 and rec.dumps == 1 and rec.ooms == 0
    assert pickle.loads(path.read_bytes()) == {"segments": [], "device_traces": [[]]}
    # What it wrote is a snapshot memsight reads.
    assert memsight.load(path).info()["format"]["variant"] == "device_traces"
    assert [p.name for p in tmp_path.iterdir()] == ["run.pickle"], "no temporary file left"


def test_oom_observer_dumps_and_the_end_dumps_again(torch, tmp_path):
    path = tmp_path / "oom.pickle"
    with pytest.raises(MemoryError):
        with memsight.record(path) as rec:
            assert len(torch.OBSERVERS) == 1
            torch.OBSERVERS[0](0, 1 << 30, 2 << 30, 0)  # what PyTorch calls at an OOM
            assert rec.ooms == 1 and rec.dumps == 1 and path.exists()
            raise MemoryError("the OOM reaches the program")
    assert rec.dumps == 2 and torch.HISTORY["enabled"] is None
    # Outside a recording the observer (attached for the process) does nothing.
    torch.OBSERVERS[0](0, 1, 1, 0)
    assert rec.dumps == 2


def test_decorator_and_no_nesting(torch, tmp_path):
    @memsight.record(tmp_path / "f.pickle")
    def train():
        with pytest.raises(RuntimeError, match="cannot nest"):
            with memsight.record(tmp_path / "inner.pickle"):
                pass
        memsight.step()
        return "done"

    assert train() == "done" and train() == "done"
    assert (tmp_path / "f.pickle").exists() and not (tmp_path / "inner.pickle").exists()
    assert torch.CALLS.count(("snapshot",)) == 2


def test_a_failed_start_turns_history_off(torch, tmp_path):
    torch.FAIL_RANGE["on"] = True
    with pytest.raises(RuntimeError, match="record_function failed"):
        with memsight.record(tmp_path / "x.pickle"):
            pass
    assert torch.HISTORY["enabled"] is None
    assert not (tmp_path / "x.pickle").exists()


def test_a_failed_write_keeps_the_previous_file(torch, tmp_path, monkeypatch):
    path = tmp_path / "keep.pickle"
    path.write_bytes(b"previous")

    def broken_dump(obj, f):
        f.write(b"half a pick")
        raise OSError("disk full")

    import memsight._record as r

    monkeypatch.setattr(r.pickle, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        with memsight.record(path):
            pass
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.pickle"]
    assert torch.HISTORY["enabled"] is None
