fn main() -> std::process::ExitCode {
    joule_runtime::main("joule-pricing", &[joule_pricing::SERVICE])
}
