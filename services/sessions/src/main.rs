fn main() -> std::process::ExitCode {
    joule_runtime::main("joule-sessions", &[joule_sessions::SERVICE])
}
