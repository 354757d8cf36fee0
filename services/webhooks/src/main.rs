fn main() -> std::process::ExitCode {
    joule_runtime::main("joule-webhooks", &[joule_webhooks::SERVICE])
}
