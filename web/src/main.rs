//! `arrears`: see `arrears --help`.
#![forbid(unsafe_code)]

/// mimalloc rather than the system allocator: booking and the engine allocate many small,
/// short-lived values (bound parameters, rows) from two threads, where glibc's malloc spent
/// a third of the bank import's time consolidating and unlinking chunks.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    arrears_web::cli::main()
}
