fn main() -> std::process::ExitCode {
    joule_runtime::main("joule-payments", &[joule_payments::SERVICE])
}
