"""`memsight` and `python -m memsight` are the command line, exit codes included; the
package imports without NumPy's or PyTorch's help."""

import subprocess
import sys

import pytest

import memsight
from conftest import REPO, run, sample

PY = sys.executable


def test_python_m_memsight_help():
    code, out, _ = run([PY, "-m", "memsight"], "--help")
    assert code == 0
    for sub in ["info", "analyze", "explain-oom", "whatif", "report", "diff", "check"]:
        assert sub in out
    assert "Usage: memsight" in out


def test_version_is_the_crates():
    _, out, _ = run([PY, "-m", "memsight"], "--version")
    cargo = (REPO / "Cargo.toml").read_text()
    assert out.strip() == f"memsight {memsight.__version__}"
    assert f'version = "{memsight.__version__}"' in cargo


def test_info_on_a_file(memsight_cmd):
    code, out, _ = run([memsight_cmd], "info", str(sample("frag_oom.pickle")))
    assert code == 0
    assert "device_traces" in out and "frag_oom.pickle" in out


def test_exit_codes(memsight_cmd, tmp_path):
    leak = str(sample("train_val_leak.pickle"))
    assert run([memsight_cmd], "check", leak, "--no-leaks", check=False)[0] == 1
    assert run([memsight_cmd], "check", leak, "--max-peak", "100GiB", check=False)[0] == 0
    assert run([memsight_cmd], "analyze", str(tmp_path / "missing"), check=False)[0] == 2
    assert run([memsight_cmd], "no-such-command", check=False)[0] == 2
    # -o naming the input is refused (exit 3) and the input is untouched.
    assert run([memsight_cmd], "report", leak, "-o", leak, "--format", "md", check=False)[0] == 3


def test_closed_pipe_is_quiet(memsight_cmd):
    p = subprocess.run(
        f"'{memsight_cmd}' analyze --json '{sample('gpt_train_amp.pickle')}' | head -c 10",
        shell=True, capture_output=True, text=True,
    )
    assert p.returncode == 0 and len(p.stdout) == 10 and p.stderr == ""


def test_imports_without_torch_or_numpy():
    # A fresh interpreter where numpy and torch cannot be imported.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'numpy', 'pandas'):\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import array, memsight\n"
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules\n"
        f"t = memsight.load({str(sample('frag_oom.pickle'))!r}).timeline()\n"
        "assert isinstance(t['allocated'], array.array) and isinstance(t['action'], list)\n"
        "n = memsight.analyze("
        f"{str(sample('frag_oom.pickle'))!r})['devices'][0]['events']\n"
        "assert len(t['allocated']) == len(t['action']) == n, n\n"
        "rec = memsight.record('x.pickle')\n"
        "memsight.step()  # no recording: nothing to do\n"
        "try:\n"
        "    with rec:\n"
        "        raise SystemExit('entered without torch')\n"
        "except ImportError as e:\n"
        "    assert 'memsight.record() needs PyTorch' in str(e), e\n"
        "    print('ok')\n"
    )
    assert run([PY, "-c", code])[1].strip() == "ok"


def test_record_as_decorator_without_torch():
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import memsight\n"
        "@memsight.record('x.pickle', max_entries=10)\n"
        "def train():\n"
        "    raise SystemExit('ran without torch')\n"
        "try:\n"
        "    train()\n"
        "except ImportError as e:\n"
        "    print('ok' if 'PyTorch' in str(e) else e)\n"
    )
    assert run([PY, "-c", code])[1].strip() == "ok"


def test_record_rejects_bad_stacks():
    with pytest.raises(ValueError, match="stacks"):
        memsight.record("x.pickle", stacks="cpp")
