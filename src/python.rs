//! The Python extension `memsight._memsight` (feature `python`, built by maturin from
//! `pyproject.toml`): the same library behind `pip install memsight`.
//!
//! Why it is this thin: every answer the Python package gives must be the command line's
//! answer, so each function here calls the function the CLI calls and hands back its JSON text
//! or bytes; dictionaries, NumPy arrays and DataFrames are built in `python/memsight/`, where
//! they are cheap to change and do not drag NumPy into the build. Loading, analysis, reports
//! and simulations run with the GIL released (`Python::detach`), so a notebook's other
//! threads keep running during a multi-second load.
//!
//! Errors: a file that cannot be read raises `memsight.SnapshotError` (a `ValueError`) with the
//! message the CLI prints after `memsight: `; a bad argument raises `ValueError`; a report
//! that cannot be written raises `OSError`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::analysis::{self, Analysis, IterationSpec, Options};
use crate::cli;
use crate::model::{Action, Snapshot};
use crate::output::report::{self, ReportFormat, ReportOptions};
use crate::output::write::{self, WriteError};
use crate::output::{analyze_json, info};
use clap::ValueEnum;

create_exception!(
    memsight,
    SnapshotError,
    PyValueError,
    "A snapshot file could not be read: the message is the one `memsight` prints."
);

/// An anyhow error from the library as the Python exception its kind calls for.
fn to_py(e: anyhow::Error, unreadable: bool) -> PyErr {
    let text = cli::error_message(&e);
    if e.chain().any(|c| c.downcast_ref::<WriteError>().is_some()) {
        PyOSError::new_err(text)
    } else if unreadable {
        SnapshotError::new_err(text)
    } else {
        PyValueError::new_err(text)
    }
}

/// Named columns of a timeline (bytes each) and the action name of every event.
type Columns<'py> = (Vec<(&'static str, Bound<'py, PyBytes>)>, Vec<String>);

fn json_text<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A loaded snapshot and, once asked for, its analysis with the default options.
#[pyclass(frozen, module = "memsight._memsight")]
pub struct LoadedSnapshot {
    snap: Arc<Snapshot>,
    path: PathBuf,
    load_ms: f64,
    analysis: OnceLock<Arc<Analysis>>,
}

impl LoadedSnapshot {
    /// The analysis under `iterations` (`auto`: cached, as every later call wants it).
    fn analysis(&self, py: Python<'_>, iterations: &str) -> PyResult<Arc<Analysis>> {
        let spec: IterationSpec = iterations
            .parse()
            .map_err(|e: String| PyValueError::new_err(format!("iterations: {e}")))?;
        if spec != IterationSpec::default() {
            let options = Options { iterations: spec };
            return Ok(Arc::new(
                py.detach(|| analysis::analyze_with(&self.snap, &options)),
            ));
        }
        Ok(self
            .analysis
            .get_or_init(|| Arc::new(py.detach(|| analysis::analyze(&self.snap))))
            .clone())
    }
}

#[pymethods]
impl LoadedSnapshot {
    /// The path the snapshot was read from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// `memsight analyze --json` as JSON text (`iterations`: as `--iterations`).
    #[pyo3(signature = (iterations = "auto"))]
    fn analyze_json(&self, py: Python<'_>, iterations: &str) -> PyResult<String> {
        let a = self.analysis(py, iterations)?;
        json_text(&analyze_json::to_json(&a, self.snap.format.variant))
    }

    /// `memsight info --json` as JSON text.
    fn info_json(&self) -> PyResult<String> {
        let name = self.path.display().to_string();
        json_text(&info::summarize(&self.snap, &name, self.load_ms))
    }

    /// The report as `memsight report` makes it: the format is `format` (`html`, `md`, `json`),
    /// else `output`'s extension, else Markdown; `device` and `site` (`FILE:LINE`) as `--device`
    /// and `--site`. With `output` the file is also written as `-o` writes it: replaced whole
    /// or not at all, never over the snapshot itself.
    #[pyo3(signature = (output = None, format = None, device = None, site = None,
                        iterations = "auto"))]
    fn report(
        &self,
        py: Python<'_>,
        output: Option<PathBuf>,
        format: Option<&str>,
        device: Option<usize>,
        site: Option<&str>,
        iterations: &str,
    ) -> PyResult<String> {
        let format = match format {
            None => None,
            Some(f) => Some(ReportFormat::from_str(f, true).map_err(|_| {
                PyValueError::new_err(format!(
                    "unknown report format {f:?}: use \"html\", \"md\" or \"json\""
                ))
            })?),
        };
        let format =
            cli::report::format_for(output.as_deref(), format).map_err(|e| to_py(e, false))?;
        if let Some(out) = &output {
            write::refuse_input(out, &[&self.path])
                .map_err(|e| PyOSError::new_err(e.to_string()))?;
        }
        let a = self.analysis(py, iterations)?;
        if let Some(dev) = device {
            if a.device(dev).is_none() {
                return Err(PyValueError::new_err(format!(
                    "{} has no device {dev}",
                    self.path.display()
                )));
            }
        }
        let (device, focus_site) = match site {
            Some(spec) => {
                let (dev, s) =
                    cli::report::find_site(&a, spec, device).map_err(|e| to_py(e, false))?;
                (Some(dev), Some(s))
            }
            None => (device, None),
        };
        let opts = ReportOptions {
            title: cli::report::display_name(&self.path),
            device,
            focus_site,
        };
        let text = py.detach(|| report::render_with(&self.snap, &a, &opts, format));
        if let Some(out) = &output {
            py.detach(|| write::file(out, text.as_bytes(), &[&self.path]))
                .map_err(|e| PyOSError::new_err(e.to_string()))?;
        }
        Ok(text)
    }

    /// `memsight whatif --json` as JSON text. `set`: `KEY:VALUE` settings for every variant;
    /// `variants`: `PYTORCH_CUDA_ALLOC_CONF` strings (with `cap:SIZE`); the rest as the flags.
    #[pyo3(signature = (set, variants, cap = None, no_cap = false, recorded_cap = None,
                        from_defaults = false, device_memory = None, device = None))]
    #[allow(clippy::too_many_arguments)]
    fn whatif_json(
        &self,
        py: Python<'_>,
        set: Vec<String>,
        variants: Vec<String>,
        cap: Option<String>,
        no_cap: bool,
        recorded_cap: Option<String>,
        from_defaults: bool,
        device_memory: Option<String>,
        device: Option<usize>,
    ) -> PyResult<String> {
        let args = cli::whatif::WhatifArgs {
            file: self.path.clone(),
            set,
            variant: variants,
            cap,
            no_cap,
            recorded_cap,
            from_defaults,
            device_memory,
            device,
            json: true,
        };
        let sim = py
            .detach(|| cli::whatif::simulate(&self.snap, &args))
            .map_err(|e| to_py(e, false))?;
        json_text(&sim.to_json())
    }

    /// The devices with an allocator trace, in order.
    fn traced_devices(&self) -> Vec<usize> {
        self.snap
            .devices
            .iter()
            .filter(|d| !d.events.is_empty())
            .map(|d| d.device)
            .collect()
    }

    /// The counters after every event of `device`'s trace, as native-endian bytes per column
    /// (`u64`; `time_us` `i64`; `segments` `u32`), and the action names. Bytes because NumPy
    /// reads them without a copy (`numpy.frombuffer`) and `array.array` without NumPy.
    fn timeline_columns<'py>(&self, py: Python<'py>, device: usize) -> PyResult<Columns<'py>> {
        let a = self.analysis(py, "auto")?;
        let d = a
            .device(device)
            .ok_or_else(|| PyValueError::new_err(format!("no device {device} in this snapshot")))?;
        let events = self
            .snap
            .trace(device)
            .map(|t| t.events.as_slice())
            .unwrap_or_default();
        let s = &d.replay.series;
        let u64s = |v: &[u64]| v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>();
        let mut cols: Vec<(&'static str, Vec<u8>)> = vec![
            (
                "time_us",
                events
                    .iter()
                    .flat_map(|e| e.time_us.to_ne_bytes())
                    .collect(),
            ),
            ("allocated", u64s(&s.allocated)),
            ("active", u64s(&s.active)),
            ("requested", u64s(&s.requested)),
            ("reserved", u64s(&s.reserved)),
            ("inactive_split", u64s(&s.inactive_split)),
            ("largest_free", u64s(&s.largest_free)),
        ];
        cols.push((
            "segments",
            s.segments.iter().flat_map(|x| x.to_ne_bytes()).collect(),
        ));
        let strings = &self.snap.frames.strings;
        let actions = events
            .iter()
            .map(|e| match e.action {
                Action::Other(id) => strings.get(id).to_string(),
                known => known.name().unwrap_or_default().to_string(),
            })
            .collect();
        let cols = cols
            .into_iter()
            .map(|(name, bytes)| (name, PyBytes::new(py, &bytes)))
            .collect();
        Ok((cols, actions))
    }
}

/// Reads a snapshot (plain or gzip/zstd/xz-compressed), with the GIL released.
#[pyfunction]
fn load(py: Python<'_>, path: PathBuf) -> PyResult<LoadedSnapshot> {
    let (snap, load_ms) = py.detach(|| cli::load(&path)).map_err(|e| to_py(e, true))?;
    Ok(LoadedSnapshot {
        snap: Arc::new(snap),
        path,
        load_ms,
        analysis: OnceLock::new(),
    })
}

/// Runs the `memsight` command line on `argv` (program name first) and returns its exit code.
/// The GIL is released: the app's window may stay open for hours.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<std::ffi::OsString>) -> i32 {
    py.detach(|| cli::main_with_args(argv))
}

#[pymodule]
fn _memsight(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SnapshotError", m.py().get_type::<SnapshotError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("HAS_GUI", cfg!(feature = "gui"))?;
    m.add_class::<LoadedSnapshot>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    Ok(())
}
