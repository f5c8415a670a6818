"""memsight from Python: PyTorch CUDA memory snapshots explained.

The answers are the command line's: ``memsight.analyze(path)`` is ``memsight analyze --json``
as a dict, ``Snapshot.report`` is ``memsight report``, ``Snapshot.whatif`` is
``memsight whatif --json``; the same Rust library computes them (``memsight._memsight``), with
the GIL released while it works. ``memsight.record(path)`` records a snapshot around a block of
PyTorch code and writes it at the end and at every out-of-memory error.

Nothing is required beyond the standard library: ``Snapshot.timeline()`` gives NumPy arrays
when NumPy is installed (``array.array`` otherwise), ``Snapshot.timeline_df()`` a pandas
DataFrame, and PyTorch is imported only when a recording starts.
"""

from __future__ import annotations

import array
import html
import json
import os
from typing import Any, Dict, Iterable, Mapping, Optional, Union

from . import _memsight
from ._memsight import HAS_GUI, SnapshotError, __version__
from ._record import record, step

__all__ = [
    "Analysis",
    "HAS_GUI",
    "Snapshot",
    "SnapshotError",
    "analyze",
    "load",
    "record",
    "step",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]

# Per-column element types of the timeline: (array.array typecode, NumPy dtype). The bytes
# come from Rust in native byte order.
_COLUMN_TYPES = {
    "time_us": ("q", "int64"),
    "allocated": ("Q", "uint64"),
    "active": ("Q", "uint64"),
    "requested": ("Q", "uint64"),
    "reserved": ("Q", "uint64"),
    "inactive_split": ("Q", "uint64"),
    "largest_free": ("Q", "uint64"),
    "segments": ("I", "uint32"),
}


class Analysis(dict):
    """The ``memsight analyze --json`` contract as a dict (equal to ``json.loads`` of the
    command's output), which a notebook shows as the HTML report of its snapshot."""

    def __init__(self, data: Mapping[str, Any], snapshot: "Snapshot", iterations: str = "auto"):
        super().__init__(data)
        self._snapshot = snapshot
        self._iterations = iterations

    @property
    def snapshot(self) -> "Snapshot":
        """The snapshot this analysis is of."""
        return self._snapshot

    def _repr_html_(self) -> str:
        return self._snapshot._html(self._iterations)


class Snapshot:
    """A snapshot read by memsight (``memsight.load``). Reading happens once; the analysis is
    computed on first use and kept."""

    def __init__(self, native: "_memsight.LoadedSnapshot"):
        self._native = native

    @property
    def path(self) -> str:
        """The file the snapshot was read from."""
        return os.fspath(self._native.path)

    def __repr__(self) -> str:
        info = self.info()
        events = sum(d.get("events", 0) for d in info.get("devices", []))
        return (
            f"<memsight.Snapshot {self.path!r}: {info['format']['variant']}, "
            f"{len(info.get('devices', []))} device(s), {events} events>"
        )

    def analyze(self, *, iterations: str = "auto") -> Analysis:
        """The diagnosis, exactly ``memsight analyze --json`` (``iterations`` as its
        ``--iterations``: ``auto``, ``marker``, ``annotation:NAME``, ``site:FILE:LINE``)."""
        return Analysis(json.loads(self._native.analyze_json(iterations)), self, iterations)

    def info(self) -> Dict[str, Any]:
        """What the file holds, exactly ``memsight info --json``."""
        return json.loads(self._native.info_json())

    def report(
        self,
        path: Optional[PathLike] = None,
        *,
        format: Optional[str] = None,
        device: Optional[int] = None,
        site: Optional[str] = None,
        iterations: str = "auto",
    ) -> str:
        """The report of ``memsight report``, returned as text; with ``path`` it is also
        written there, replacing the file whole or not at all. The format is ``format``
        (``"html"``, ``"md"``, ``"json"``), else ``path``'s extension, else Markdown."""
        out = None if path is None else os.fspath(path)
        return self._native.report(out, format, device, site, iterations)

    def whatif(
        self,
        *,
        cap: Optional[Union[str, int]] = None,
        no_cap: bool = False,
        recorded_cap: Optional[Union[str, int]] = None,
        from_defaults: bool = False,
        device_memory: Optional[Union[str, int]] = None,
        device: Optional[int] = None,
        variants: Optional[Iterable[Union[str, Mapping[str, Any]]]] = None,
        **settings: Any,
    ) -> Dict[str, Any]:
        """The recorded requests replayed under other allocator settings: exactly
        ``memsight whatif --json``. Keyword settings are ``PYTORCH_CUDA_ALLOC_CONF`` keys
        (``expandable_segments=True``, ``max_split_size_mb=256``,
        ``roundup_power2_divisions=4``, ``garbage_collection_threshold=0.6``), applied to every
        variant like ``--set``; ``variants`` are several to compare, each a dict of settings
        (``cap`` allowed) or a ``PYTORCH_CUDA_ALLOC_CONF`` string. Sizes are bytes or text
        such as ``"3GiB"``."""
        sets = [_conf_item(k, v) for k, v in settings.items()]
        confs = [v if isinstance(v, str) else _conf(v) for v in (variants or [])]
        text = self._native.whatif_json(
            sets,
            confs,
            _size(cap),
            no_cap,
            _size(recorded_cap),
            from_defaults,
            _size(device_memory),
            device,
        )
        return json.loads(text)

    def timeline(self, device: Optional[int] = None) -> Dict[str, Any]:
        """The allocator's counters after every event of ``device``'s trace (the first
        device with a trace by default), one column each: ``event``, ``time_us``,
        ``action``, ``allocated``, ``active``, ``requested``, ``reserved``,
        ``inactive_split``, ``largest_free`` (the largest free block) and ``segments``.
        NumPy arrays when NumPy is installed (read-only, no copy), ``array.array`` and a list
        of action names otherwise."""
        cols, actions = self._native.timeline_columns(self._device(device))
        try:
            import numpy as np
        except ImportError:
            out: Dict[str, Any] = {"event": array.array("Q", range(len(actions)))}
            for name, data in cols:
                a = array.array(_COLUMN_TYPES[name][0])
                a.frombytes(data)
                out[name] = a
            out["action"] = actions
            return out
        out = {"event": np.arange(len(actions), dtype=np.uint64)}
        for name, data in cols:
            out[name] = np.frombuffer(data, dtype=_COLUMN_TYPES[name][1])
        out["action"] = np.array(actions, dtype=object)
        return out

    def timeline_df(self, device: Optional[int] = None) -> Any:
        """``timeline()`` as a pandas DataFrame indexed by event (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError(
                "Snapshot.timeline_df() needs pandas (pip install pandas); "
                "Snapshot.timeline() works without it"
            ) from e
        cols = self.timeline(device)
        index = pd.Index(cols.pop("event"), name="event")
        return pd.DataFrame(cols, index=index)

    def _device(self, device: Optional[int]) -> int:
        traced = self._native.traced_devices()
        if device is None:
            if not traced:
                raise ValueError(f"{self.path} has no allocator trace: no timeline to show")
            return traced[0]
        if device not in traced:
            raise ValueError(
                f"{self.path} has no trace for device {device} "
                f"(devices with a trace: {', '.join(map(str, traced)) or 'none'})"
            )
        return device

    def _html(self, iterations: str = "auto") -> str:
        # The report is a whole page with its own CSS: inside an iframe its styles cannot
        # leak into the notebook's, nor the notebook's into it.
        page = self._native.report(None, "html", None, None, iterations)
        return (
            '<iframe style="width:100%;height:640px;border:1px solid #ccc" '
            f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
        )

    def _repr_html_(self) -> str:
        return self._html()


def load(path: PathLike) -> Snapshot:
    """Reads a snapshot (``torch.cuda.memory._dump_snapshot`` pickle, plain or
    gzip/zstd/xz-compressed). Raises ``SnapshotError`` with the message ``memsight`` prints
    when the file cannot be read."""
    return Snapshot(_memsight.load(os.fspath(path)))


def analyze(path: PathLike, *, iterations: str = "auto") -> Analysis:
    """``memsight analyze --json FILE`` as a dict."""
    return load(path).analyze(iterations=iterations)


def _size(v: Optional[Union[str, int]]) -> Optional[str]:
    return None if v is None else str(v)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, Mapping):
        return "[" + ",".join(f"{k}:{_value(x)}" for k, x in v.items()) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    return str(v)


def _conf_item(key: str, value: Any) -> str:
    return f"{key}:{_value(value)}"


def _conf(settings: Mapping[str, Any]) -> str:
    return ",".join(_conf_item(k, v) for k, v in settings.items())
