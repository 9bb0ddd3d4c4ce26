//! The `sluice` binary: everything lives in the library so teams can build their own binary.

fn main() -> std::process::ExitCode {
    sluice::main()
}
