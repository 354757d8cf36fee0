fn main() -> std::process::ExitCode {
    joule_runtime::main("joule-gateway", &[joule_gateway::SERVICE])
}
