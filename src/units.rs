//! Human-readable numbers: sizes, durations and plurals.
//!
//! A leaf module: every layer may use it and it uses nothing of memsight, so analysis can
//! stay free of presentation while sharing one way of writing a size.

/// Bytes in binary units, e.g. `1.50 GiB`, `600.00 MiB`, `512 B`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2} {}", UNITS[u])
}

/// The plural `s` of an English noun counted `n` times: `format!("{n} block{}", plural(n))`.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `n` and its noun, in the plural when `n` is not 1: `count(1, "block")` is `1 block`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Signed bytes, e.g. `+150.00 MiB` / `-2.00 KiB`.
pub fn signed_bytes(n: i64) -> String {
    if n < 0 {
        format!("-{}", bytes(n.unsigned_abs()))
    } else {
        format!("+{}", bytes(n as u64))
    }
}

/// A duration in microseconds as `1.234 s`, `12.3 ms` or `45 µs`.
pub fn duration_us(us: i64) -> String {
    let a = us.unsigned_abs();
    if a >= 1_000_000 {
        format!("{:.3} s", us as f64 / 1e6)
    } else if a >= 1_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

/// Parses sizes such as `512MiB`, `1.5GB`, `10 GiB`, `4096` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("{text:?} is not a size (try 512MiB, 1.5GB or plain bytes)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" | "ki" => 1024.0,
        "mib" | "mi" => 1024.0 * 1024.0,
        "gib" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "tib" | "ti" => 1024.0f64.powi(4),
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    if !num.is_finite() || num < 0.0 {
        return Err(format!("{text:?} is not a size"));
    }
    Ok((num * mult).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("10 GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert_eq!(bytes(629145600), "600.00 MiB");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(count(1u64, "block"), "1 block");
        assert_eq!(count(3u32, "block"), "3 blocks");
    }
}
