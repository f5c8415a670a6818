//! `memsight explain-oom [TEXT]`: a verdict from the text of an OutOfMemoryError alone.

use std::io::Read;

use anyhow::{Context, Result};

use crate::analysis::oom;
use crate::output::{words, write};
use crate::units::bytes;

#[derive(Debug, clap::Args)]
pub struct ExplainOomArgs {
    /// The error message; read from standard input when absent.
    pub text: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ExplainOomArgs) -> Result<i32> {
    let text = match &args.text {
        Some(t) => t.clone(),
        None => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("reading the error message from standard input")?;
            t
        }
    };
    let m = oom::parse_message(&text);
    let Some(verdict) = oom::explain_message(&m) else {
        anyhow::bail!(
            "no \"Tried to allocate ...\" in the text: paste the whole torch.cuda.OutOfMemoryError message"
        );
    };
    let mut advice = words::oom_fix(
        verdict,
        m.requested.unwrap_or(0),
        m.free_in_reserved(),
        None,
    );
    if let Some(p) = m.private_pools.filter(|&p| p > 0) {
        advice.push_str(&words::private_pools_in_message(p));
    }
    let text = if args.json {
        let j = serde_json::json!({
            "message": m,
            "verdict": verdict.name(),
            "advice": advice,
        });
        serde_json::to_string_pretty(&j)? + "\n"
    } else {
        let opt = |v: Option<u64>| v.map(bytes).unwrap_or_else(|| "?".into());
        format!(
            "Requested {}; allocated {}; reserved but unallocated {}; device free {}\n\
             Verdict: {}\n{advice}\n",
            opt(m.requested),
            opt(m.allocated),
            opt(m
                .reserved_unallocated
                .or_else(|| match (m.reserved, m.allocated) {
                    (Some(r), Some(a)) => Some(r.saturating_sub(a)),
                    _ => None,
                })),
            opt(m.device_free),
            verdict.name().to_uppercase()
        )
    };
    write::stdout(&text)?;
    Ok(super::exit::OK)
}
