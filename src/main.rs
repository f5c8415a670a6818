//! The `memsight` binary: the desktop app when run with files or nothing, and subcommands for
//! the command line. The command line itself is [`memsight::cli::main_with_args`], which the
//! Python package's `memsight` command runs too.
//!
//! Exit codes ([`memsight::cli::exit`]): 0 done, also when standard output was a pipe closed
//! early (`| head`); 1 a `check` rule failed; 2 the input could not be read or the command
//! line was wrong; 3 the output could not be written (a full disk, a failed `-o`, `-o` naming
//! an input).

#[global_allocator]
static ALLOC: memsight::heap::HugePageAlloc = memsight::heap::HugePageAlloc;

fn main() {
    std::process::exit(memsight::cli::main_with_args(std::env::args_os()));
}
