use std::process::ExitCode;

fn main() -> ExitCode {
    deliver::run(std::env::args_os())
}
