//! `arrears`: see `arrears --help`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    arrears_web::cli::main()
}
