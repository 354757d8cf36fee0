fn main() -> std::process::ExitCode {
    joule_runtime::main("joule-ledger", &[joule_ledger::SERVICE])
}
