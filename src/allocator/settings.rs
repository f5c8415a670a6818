//! Allocator settings: `PYTORCH_CUDA_ALLOC_CONF`-style `key:value` pairs, or the
//! `allocator_settings` a snapshot recorded. The replay reads them to size blocks as the
//! recording did; the what-if model runs under other ones.
//!
//! Only the keys that change where memory goes are modelled; the others (`pinned_*`,
//! `release_lock_on_cudamalloc`, `backend`, ...) are accepted and ignored, so that a real
//! configuration string can be pasted as it is.

use std::fmt;

use crate::model::{AllocatorSettings, Snapshot};

use super::rules::{
    roundup_power2_next_division, LARGE_BUFFER, MIN_BLOCK, ROUNDUP_INTERVALS, SMALL_SIZE,
};

/// A setting that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("{0:?} is not a key:value pair (e.g. expandable_segments:True)")]
    NotAPair(String),
    #[error("unknown allocator setting {0:?} (known: max_split_size_mb, roundup_power2_divisions, garbage_collection_threshold, expandable_segments, max_non_split_rounding_mb)")]
    UnknownKey(String),
    #[error("bad value {value:?} for {key}: {why}")]
    BadValue {
        key: String,
        value: String,
        why: &'static str,
    },
}

/// The allocator configuration a simulation runs under.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Blocks this large or larger are never split (bytes; `None`: unlimited, the default).
    pub max_split_size: Option<u64>,
    /// An oversize cached block serves a request of at least `max_split_size` only when it
    /// is less than this much larger (`max_non_split_rounding_mb`, default 20 MiB).
    pub max_non_split_rounding: u64,
    /// Divisions per power-of-two interval (index 0: up to 2 MiB, ..., 15: 32 GiB and up);
    /// 0 or 1 means plain 512-byte rounding.
    pub roundup_power2_divisions: [u64; ROUNDUP_INTERVALS],
    /// Fraction of the cap above which cached blocks are reclaimed before a new segment is
    /// allocated (0: off). Only acts when a cap is set, as in PyTorch.
    pub garbage_collection_threshold: f64,
    pub expandable_segments: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_split_size: None,
            max_non_split_rounding: LARGE_BUFFER,
            roundup_power2_divisions: [0; ROUNDUP_INTERVALS],
            garbage_collection_threshold: 0.0,
            expandable_segments: false,
        }
    }
}

impl Settings {
    /// Parses a `PYTORCH_CUDA_ALLOC_CONF` string (`key:value` pairs separated by commas; a
    /// `roundup_power2_divisions:[256:1,512:2,>:8]` list may hold commas) on top of the
    /// defaults.
    pub fn parse_conf(conf: &str) -> Result<Settings, SettingsError> {
        let mut s = Settings::default();
        s.apply_conf(conf)?;
        Ok(s)
    }

    /// Applies a `PYTORCH_CUDA_ALLOC_CONF`-style string on top of these settings.
    pub fn apply_conf(&mut self, conf: &str) -> Result<(), SettingsError> {
        for pair in split_pairs(conf) {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let Some((key, value)) = pair.split_once(':') else {
                return Err(SettingsError::NotAPair(pair.to_string()));
            };
            self.set(key.trim(), value.trim())?;
        }
        Ok(())
    }

    /// Sets one key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SettingsError> {
        let bad = |why: &'static str| SettingsError::BadValue {
            key: key.to_string(),
            value: value.to_string(),
            why,
        };
        match key {
            "max_split_size_mb" => {
                let mb: f64 = value.parse().map_err(|_| bad("expected MiB"))?;
                if !(mb.is_finite()) || mb < 0.0 {
                    return Err(bad("expected a positive number of MiB"));
                }
                // PyTorch clamps the limit to at least kLargeBuffer.
                let bytes = ((mb as u64).max(LARGE_BUFFER >> 20)) << 20;
                self.max_split_size = Some(bytes);
            }
            "max_non_split_rounding_mb" => {
                let mb: u64 = value.parse().map_err(|_| bad("expected MiB"))?;
                self.max_non_split_rounding = (mb.max(LARGE_BUFFER >> 20)) << 20;
            }
            "garbage_collection_threshold" => {
                let t: f64 = value.parse().map_err(|_| bad("expected a number"))?;
                if !(t > 0.0 && t < 1.0) {
                    return Err(bad("must be between 0.0 and 1.0 (exclusive)"));
                }
                self.garbage_collection_threshold = t;
            }
            "expandable_segments" => {
                self.expandable_segments = match value {
                    "True" | "true" | "1" => true,
                    "False" | "false" | "0" => false,
                    _ => return Err(bad("expected True or False")),
                };
            }
            "roundup_power2_divisions" => {
                self.roundup_power2_divisions = parse_divisions(value).map_err(bad)?;
            }
            // Accepted and not modelled: they do not change where memory goes.
            "backend"
            | "release_lock_on_cudamalloc"
            | "pinned_use_cuda_host_register"
            | "pinned_num_register_threads"
            | "pinned_use_background_threads"
            | "graph_capture_record_stream_reuse"
            | "per_process_memory_fraction" => {}
            _ => return Err(SettingsError::UnknownKey(key.to_string())),
        }
        Ok(())
    }

    /// The settings the snapshot was recorded under (defaults where it says nothing).
    pub fn from_snapshot(snap: &Snapshot) -> Settings {
        Settings::recorded(snap.allocator_settings.as_ref())
    }

    /// The settings of a snapshot's `allocator_settings` (defaults when it has none).
    pub fn recorded(recorded: Option<&AllocatorSettings>) -> Settings {
        let mut s = Settings::default();
        let Some(a) = recorded else {
            return s;
        };
        s.max_split_size = a.max_split_size;
        if let Some(t) = a.garbage_collection_threshold {
            if t > 0.0 && t < 1.0 {
                s.garbage_collection_threshold = t;
            }
        }
        s.expandable_segments = a.expandable_segments.unwrap_or(false);
        for &(start_mib, div) in &a.roundup_power2_divisions {
            if start_mib > 0 {
                let idx = (63 - start_mib.leading_zeros()) as usize;
                if idx < ROUNDUP_INTERVALS {
                    s.roundup_power2_divisions[idx] = div;
                }
            }
        }
        if let Some(mb) = a
            .raw
            .get("max_non_split_rounding_size")
            .and_then(|v| v.as_i64())
        {
            if mb > 0 {
                s.max_non_split_rounding = mb as u64;
            }
        }
        s
    }

    /// `round_size` of CUDACachingAllocator.cpp: the block size a request asks for.
    pub fn round_size(&self, size: u64) -> u64 {
        if size < MIN_BLOCK {
            return MIN_BLOCK;
        }
        let log = 63 - size.leading_zeros() as usize;
        let idx = log.saturating_sub(20).min(ROUNDUP_INTERVALS - 1);
        let divisions = self.roundup_power2_divisions[idx];
        if divisions > 1 && size > MIN_BLOCK * divisions {
            roundup_power2_next_division(size, divisions)
        } else {
            size.div_ceil(MIN_BLOCK) * MIN_BLOCK
        }
    }

    /// `should_split`: whether carving `size` out of a free block of `block` bytes leaves a
    /// remainder worth keeping as its own free block (expandable segments split like the
    /// small pool).
    pub fn should_split(&self, block: u64, size: u64, expandable: bool) -> bool {
        let remaining = block.saturating_sub(size);
        if size <= SMALL_SIZE || expandable {
            remaining >= MIN_BLOCK
        } else {
            size < self.max_split() && remaining > SMALL_SIZE
        }
    }

    /// The limit under which blocks may be split (`u64::MAX` when unlimited).
    pub fn max_split(&self) -> u64 {
        self.max_split_size.unwrap_or(u64::MAX)
    }

    /// The settings as a `PYTORCH_CUDA_ALLOC_CONF` string, only what differs from the
    /// defaults (`""` for the defaults).
    pub fn to_conf(&self) -> String {
        let d = Settings::default();
        let mut parts = Vec::new();
        if self.expandable_segments {
            parts.push("expandable_segments:True".to_string());
        }
        if let Some(m) = self.max_split_size {
            parts.push(format!("max_split_size_mb:{}", m >> 20));
        }
        if self.max_non_split_rounding != d.max_non_split_rounding {
            parts.push(format!(
                "max_non_split_rounding_mb:{}",
                self.max_non_split_rounding >> 20
            ));
        }
        if self.roundup_power2_divisions != d.roundup_power2_divisions {
            let first = self.roundup_power2_divisions[0];
            if self.roundup_power2_divisions.iter().all(|&x| x == first) {
                parts.push(format!("roundup_power2_divisions:{first}"));
            } else {
                let items: Vec<String> = self
                    .roundup_power2_divisions
                    .iter()
                    .enumerate()
                    .map(|(i, d)| format!("{}:{d}", 1u64 << i))
                    .collect();
                parts.push(format!("roundup_power2_divisions:[{}]", items.join(",")));
            }
        }
        if self.garbage_collection_threshold > 0.0 {
            parts.push(format!(
                "garbage_collection_threshold:{}",
                self.garbage_collection_threshold
            ));
        }
        parts.join(",")
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.to_conf();
        if c.is_empty() {
            write!(f, "defaults")
        } else {
            write!(f, "{c}")
        }
    }
}

/// Splits on commas outside `[...]`.
fn split_pairs(conf: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in conf.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(&conf[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&conf[start..]);
    out
}

/// `roundup_power2_divisions`: one power of two for every interval, or a list
/// `[256:1,512:2,>:8]` keyed by interval start in MiB (`>`: all intervals from the last one
/// named), as `CUDAAllocatorConfig::parseRoundUpPower2Divisions` reads it.
fn parse_divisions(value: &str) -> Result<[u64; ROUNDUP_INTERVALS], &'static str> {
    let mut out = [0u64; ROUNDUP_INTERVALS];
    let check = |v: u64| -> Result<u64, &'static str> {
        if v == 0 || v.is_power_of_two() {
            Ok(v)
        } else {
            Err("divisions must be powers of 2")
        }
    };
    let v = value.trim();
    if let Some(inner) = v.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("missing ]")?;
        let mut last_index = 0usize;
        let mut first = true;
        for item in inner.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (k, d) = item.split_once(':').ok_or("expected START_MB:DIVISIONS")?;
            let d = check(d.trim().parse().map_err(|_| "divisions must be integers")?)?;
            if k.trim() == ">" {
                for x in out.iter_mut().skip(last_index + 1) {
                    *x = d;
                }
            } else {
                let k: u64 = k.trim().parse().map_err(|_| "interval starts are MiB")?;
                if !k.is_power_of_two() {
                    return Err("interval starts must be powers of 2");
                }
                let index = ((63 - k.leading_zeros()) as usize).min(ROUNDUP_INTERVALS - 1);
                if first {
                    for x in out.iter_mut().take(index) {
                        *x = d;
                    }
                    first = false;
                }
                out[index] = d;
                last_index = index;
            }
        }
        Ok(out)
    } else {
        let d = check(
            v.parse()
                .map_err(|_| "expected a power of 2 or a [..] list")?,
        )?;
        Ok([d; ROUNDUP_INTERVALS])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_follows_pytorch() {
        let mut s = Settings::default();
        assert_eq!(s.round_size(1), 512);
        assert_eq!(s.round_size(513), 1024);
        s.apply_conf("roundup_power2_divisions:4").unwrap();
        // 5000 lies in [4096, 8192): divisions 4096, 5120, 6144, 7168.
        assert_eq!(s.round_size(5000), 5120);
        // Too small for 4 divisions of 512 bytes: plain rounding.
        assert_eq!(s.round_size(1200), 1536);
        assert_eq!(s.round_size((300 << 20) + 1), 320 << 20);
    }
}
