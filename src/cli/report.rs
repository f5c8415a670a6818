//! `memsight report FILE -o out.html|out.md|out.json`: the diagnosis as a document.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::analysis;
use crate::output::report::{self, ReportFormat, ReportOptions};
use crate::output::write;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The snapshot (.pickle, optionally gzip/zstd/xz-compressed).
    pub file: PathBuf,
    #[command(flatten)]
    pub out: ReportOutput,
    /// Only this device (default: every device).
    #[arg(long)]
    pub device: Option<usize>,
    /// Single out one call site, as the app's export of a selection does: `workloads.py:158`
    /// (file name or a path suffix, and the line). Reports the first device with that site
    /// unless --device says which.
    #[arg(long, value_name = "FILE:LINE")]
    pub site: Option<String>,
    #[command(flatten)]
    pub options: super::analyze::AnalysisArgs,
}

/// Where a report goes, and in which format (`report` and `diff`).
#[derive(Debug, clap::Args)]
pub struct ReportOutput {
    /// Write the report to this file; its extension picks the format (.html, .md, .json).
    /// `-` is standard output, in Markdown unless --format says otherwise.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The report format, whatever the output's extension.
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
}

impl ReportOutput {
    /// The file to write: `None` for standard output.
    pub fn file(&self) -> Option<&Path> {
        output_file(self.output.as_deref())
    }

    /// `--format`, else the output's extension (Markdown for standard output).
    pub fn format(&self) -> Result<ReportFormat> {
        format_for(self.output.as_deref(), self.format)
    }

    /// Writes `text` where `--output` says (see [`write_output`]).
    pub fn write(&self, text: &str, inputs: &[&Path]) -> Result<()> {
        write_output(self.output.as_deref(), text, inputs)
    }
}

/// The device and site index of `FILE:LINE` (`device`: only that device); `--site` and the
/// Python package's `Snapshot.report(site=...)`.
pub fn find_site(
    a: &analysis::Analysis,
    spec: &str,
    device: Option<usize>,
) -> Result<(usize, u32)> {
    let (file, line) = spec
        .rsplit_once(':')
        .and_then(|(f, l)| Some((f, l.parse::<i64>().ok()?)))
        .with_context(|| format!("--site {spec:?}: expected FILE:LINE, e.g. workloads.py:158"))?;
    for d in &a.devices {
        if device.is_some_and(|want| want != d.device) {
            continue;
        }
        let found = d.sites.sites.iter().position(|s| {
            s.line == line && (s.file == file || s.file.ends_with(&format!("/{file}")))
        });
        if let Some(i) = found {
            return Ok((d.device, i as u32));
        }
    }
    bail!("no call site {spec} in this snapshot")
}

/// The format for an output path: `--format`, else the extension, else an error.
pub fn format_for(output: Option<&Path>, format: Option<ReportFormat>) -> Result<ReportFormat> {
    if let Some(f) = format {
        return Ok(f);
    }
    match output {
        None => Ok(ReportFormat::Md),
        Some(p) if p == Path::new("-") => Ok(ReportFormat::Md),
        Some(p) => match ReportFormat::from_path(p) {
            Some(f) => Ok(f),
            None => bail!(
                "cannot tell the report format from {:?}: name it .html, .md or .json, or pass \
                 --format html|md|json",
                p.display().to_string()
            ),
        },
    }
}

/// The file name of a path, for titles.
pub fn display_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The file `output` names: `None` for standard output (no `-o`, or `-o -`).
pub fn output_file(output: Option<&Path>) -> Option<&Path> {
    output.filter(|p| *p != Path::new("-"))
}

/// Writes `text` to `output` (standard output when `None` or `-`); a file is replaced whole
/// or not at all, and never when it is one of `inputs`.
pub fn write_output(output: Option<&Path>, text: &str, inputs: &[&Path]) -> Result<()> {
    match output_file(output) {
        Some(p) => {
            write::file(p, text.as_bytes(), inputs)?;
            write::note(&format!("wrote {}", p.display()));
        }
        None => write::stdout(text)?,
    }
    Ok(())
}

pub fn run(args: &ReportArgs) -> Result<i32> {
    let format = args.out.format()?;
    if let Some(out) = args.out.file() {
        write::refuse_input(out, &[&args.file])?;
    }
    let (snap, _) = super::input::load(&args.file)?;
    let a = analysis::analyze_with(&snap, &args.options.options());
    if let Some(dev) = args.device {
        if a.device(dev).is_none() {
            let ids: Vec<String> = a.devices.iter().map(|d| d.device.to_string()).collect();
            bail!(
                "{} has no device {dev} (devices: {})",
                args.file.display(),
                if ids.is_empty() {
                    "none".into()
                } else {
                    ids.join(", ")
                }
            );
        }
    }
    let (device, focus_site) = match &args.site {
        Some(spec) => {
            let (dev, site) = find_site(&a, spec, args.device)?;
            (Some(dev), Some(site))
        }
        None => (args.device, None),
    };
    let opts = ReportOptions {
        title: display_name(&args.file),
        device,
        focus_site,
    };
    let text = report::render_with(&snap, &a, &opts, format);
    args.out.write(&text, &[&args.file])?;
    Ok(super::exit::OK)
}
