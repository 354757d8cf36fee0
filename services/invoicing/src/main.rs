fn main() -> std::process::ExitCode {
    joule_runtime::main("joule-invoicing", &[joule_invoicing::SERVICE])
}
