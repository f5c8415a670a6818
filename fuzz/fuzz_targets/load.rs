//! Fuzz target `load`: any bytes through the whole reader (decompression, pickle machine,
//! typed builder). Under cargo-fuzz (`--cfg fuzzing`) libFuzzer drives it; otherwise it is a
//! stable binary that replays a corpus and then mutates it for a while (see `memsight_fuzz`).
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| memsight_fuzz::check(data));

#[cfg(not(fuzzing))]
fn main() -> std::process::ExitCode {
    memsight_fuzz::replay_main()
}
