"""The module's answers are the command line's: same JSON, same errors, same reports."""

import html
import json
import re
import sys
from pathlib import Path

import pytest

import memsight
from conftest import REPO, SAMPLES, cli_json, need, run, sample, shared

SAMPLE_FILES = sorted(p.name for p in SAMPLES.glob("*.pickle"))
SHARED_FILES = ["leak_nomarks.pickle", "kv_generate.pickle.xz", "ddp_rank0.pickle"]


def test_the_installed_package_is_tested():
    # Not the source tree: the wheel pip built, with its compiled extension.
    assert "site-packages" in memsight.__file__, memsight.__file__
    assert len(SAMPLE_FILES) == 5, SAMPLE_FILES


@pytest.mark.parametrize("name", SAMPLE_FILES)
def test_analyze_equals_cli_json_on_samples(memsight_cmd, name):
    path = sample(name)
    a = memsight.analyze(path)
    assert a == cli_json(memsight_cmd, "analyze", "--json", str(path))
    assert isinstance(a, dict) and a["devices"], "a sample with no device"


@pytest.mark.parametrize("name", SHARED_FILES)
def test_analyze_equals_cli_json_on_shared_snapshots(memsight_cmd, name):
    path = shared(name)
    assert memsight.analyze(path) == cli_json(memsight_cmd, "analyze", "--json", str(path))


def test_the_wheel_answers_like_the_cargo_binary():
    # The wheel's command line and the cargo-built one are the same code; CI builds both.
    binary = need(REPO / "target" / "release" / "memsight")
    for name in ["train_val_leak.pickle", "frag_oom.pickle"]:
        path = sample(name)
        assert memsight.analyze(path) == cli_json(str(binary), "analyze", "--json", str(path))


def test_iterations_option_is_the_cli_flag(memsight_cmd):
    path = sample("train_val_leak.pickle")
    a = memsight.analyze(path, iterations="marker")
    assert a == cli_json(memsight_cmd, "analyze", "--json", "--iterations", "marker", str(path))
    assert a["devices"][0]["iteration_source"] == "markers"


def test_the_leak_sample_is_diagnosed():
    a = memsight.analyze(sample("train_val_leak.pickle"))
    leaks = a["devices"][0]["leaks"]
    assert leaks and leaks[0]["file"].endswith("workloads.py") and leaks[0]["line"] == 158


def test_info_equals_cli_json(memsight_cmd):
    path = sample("capacity_oom.pickle")
    info = memsight.load(path).info()
    cli = cli_json(memsight_cmd, "info", "--json", str(path))
    # The load time is measured, so it differs between two loads.
    info.pop("load_ms"), cli.pop("load_ms")
    assert info == cli


def _error_of_cli(cmd, path):
    code, out, err = run([cmd], "analyze", "--json", str(path), check=False)
    assert code == 2 and out == "", (code, out)
    assert err.startswith("memsight: ") and err.endswith("\n"), err
    return err[len("memsight: ") : -1]


@pytest.mark.parametrize("kind", ["missing", "not_a_pickle", "truncated", "directory"])
def test_errors_are_snapshot_errors_with_the_cli_message(memsight_cmd, tmp_path, kind):
    if kind == "missing":
        path = tmp_path / "no_such.pickle"
    elif kind == "not_a_pickle":
        path = REPO / "README.md"
    elif kind == "truncated":
        path = tmp_path / "cut.pickle"
        path.write_bytes(sample("frag_oom.pickle").read_bytes()[:5000])
    else:
        path = tmp_path
    message = _error_of_cli(memsight_cmd, path)
    with pytest.raises(memsight.SnapshotError) as e:
        memsight.analyze(path)
    assert str(e.value) == message
    assert isinstance(e.value, ValueError)
    assert str(path) in message


def test_report_is_the_cli_report(memsight_cmd, tmp_path):
    path = sample("frag_oom.pickle")
    snap = memsight.load(path)
    for ext in ["html", "md", "json"]:
        ours, theirs = tmp_path / f"ours.{ext}", tmp_path / f"cli.{ext}"
        text = snap.report(ours)
        run([memsight_cmd], "report", str(path), "-o", str(theirs))
        assert ours.read_text() == theirs.read_text() == text
    assert snap.report() == run([memsight_cmd], "report", str(path))[1]
    site = snap.report(format="md", site="workloads.py:180")
    assert site == run([memsight_cmd], "report", str(path), "--site", "workloads.py:180")[1]


def test_report_refuses_to_overwrite_its_snapshot(tmp_path):
    src = tmp_path / "snap.pickle"
    src.write_bytes(sample("frag_oom.pickle").read_bytes())
    snap = memsight.load(src)
    with pytest.raises(OSError):
        snap.report(src, format="html")
    assert src.read_bytes() == sample("frag_oom.pickle").read_bytes()
    with pytest.raises(ValueError, match="cannot tell the report format"):
        snap.report(tmp_path / "out.txt")


def test_repr_html_is_the_html_report():
    snap = memsight.load(sample("train_val_leak.pickle"))
    shown = snap._repr_html_()
    m = re.fullmatch(r'<iframe style="[^"]*" srcdoc="([^"]*)"></iframe>', shown)
    assert m, shown[:200]
    page = html.unescape(m.group(1))
    assert page == snap.report(format="html")
    assert page.lstrip().lower().startswith("<!doctype html>") and "workloads.py:158" in page
    # An analysis shows the same report.
    assert snap.analyze()._repr_html_() == shown


def test_whatif_equals_cli_json(memsight_cmd):
    path = sample("frag_oom.pickle")
    snap = memsight.load(path)
    ours = snap.whatif(expandable_segments=True)
    cli = cli_json(memsight_cmd, "whatif", str(path), "--json", "--set", "expandable_segments:True")
    assert ours == cli
    # frag_oom's OOM is fragmentation: expandable segments serve the request that failed.
    assert ours["recorded"]["ooms"] and ours["variants"][0]["ooms"] == []
    many = snap.whatif(
        variants=[{"max_split_size_mb": 256}, "roundup_power2_divisions:4,cap:3GiB"], cap="2GiB"
    )
    cli = cli_json(
        memsight_cmd, "whatif", str(path), "--json", "--cap", "2GiB",
        "--variant", "max_split_size_mb:256", "--variant", "roundup_power2_divisions:4,cap:3GiB",
    )
    assert many == cli and len(many["variants"]) == 2


def test_whatif_rejects_an_unknown_setting():
    snap = memsight.load(sample("frag_oom.pickle"))
    with pytest.raises(ValueError, match='unknown allocator setting "not_a_setting"'):
        snap.whatif(not_a_setting=1)


def test_timeline_has_a_row_per_event():
    for name in SAMPLE_FILES:
        snap = memsight.load(sample(name))
        t = snap.timeline()
        a = snap.analyze()["devices"][0]
        n = a["events"]
        assert n > 0
        assert {len(v) for v in t.values()} == {n}, name
        # The counters are the replay's: the peak and the final state agree with analyze.
        assert int(t["allocated"].max()) == a["peak"]["allocated"]
        assert int(t["reserved"].max()) == a["peak"]["reserved"]
        assert int(t["allocated"][-1]) == a["final"]["allocated"]
        assert int(t["reserved"][-1]) == a["final"]["reserved"]
        for m in a["markers"]:
            # Marker k holds the counters just before its snapshot entry.
            before = m["event"] - 1
            if before >= 0:
                assert int(t["allocated"][before]) == m["allocated"]
            assert t["action"][m["event"]] == "snapshot"


def test_timeline_dataframe():
    pd = pytest.importorskip("pandas")
    snap = memsight.load(sample("capacity_oom.pickle"))
    df = snap.timeline_df()
    assert isinstance(df, pd.DataFrame)
    assert len(df) == snap.analyze()["devices"][0]["events"]
    assert df.index.name == "event" and "reserved" in df.columns


def test_timeline_of_a_missing_device_is_an_error():
    snap = memsight.load(sample("capacity_oom.pickle"))
    with pytest.raises(ValueError, match="no trace for device 7"):
        snap.timeline(device=7)
