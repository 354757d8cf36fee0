fn main() -> std::process::ExitCode {
    joule_runtime::main("joule-api", &[joule_api::SERVICE])
}
