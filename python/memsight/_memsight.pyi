# Type stubs of the native extension (src/python.rs). Its functions hand back JSON text and
# bytes; memsight/__init__.py turns them into dicts, arrays and DataFrames.
from os import PathLike
from typing import List, Optional, Sequence, Tuple, Union

__version__: str
HAS_GUI: bool

class SnapshotError(ValueError): ...

class LoadedSnapshot:
    @property
    def path(self) -> str: ...
    def analyze_json(self, iterations: str = "auto") -> str: ...
    def info_json(self) -> str: ...
    def report(
        self,
        output: Optional[Union[str, PathLike[str]]] = None,
        format: Optional[str] = None,
        device: Optional[int] = None,
        site: Optional[str] = None,
        iterations: str = "auto",
    ) -> str: ...
    def whatif_json(
        self,
        set: Sequence[str],
        variants: Sequence[str],
        cap: Optional[str] = None,
        no_cap: bool = False,
        recorded_cap: Optional[str] = None,
        from_defaults: bool = False,
        device_memory: Optional[str] = None,
        device: Optional[int] = None,
    ) -> str: ...
    def traced_devices(self) -> List[int]: ...
    def timeline_columns(self, device: int) -> Tuple[List[Tuple[str, bytes]], List[str]]: ...

def load(path: Union[str, PathLike[str]]) -> LoadedSnapshot: ...
def run_cli(argv: Sequence[str]) -> int: ...
