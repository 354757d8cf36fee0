fn main() -> std::process::ExitCode {
    joule_cli::main()
}
