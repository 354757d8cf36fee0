//! Writes a corpus of generated OCPI 2.2.1 tariffs and CDRs for `make bench-pricing`:
//! `cargo run --release -p joule-tariff --example corpus -- DIR [--cases N] [--seed S] [--mix plain|full]`.

#[path = "../tests/support/corpus.rs"]
mod corpus;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: corpus DIR [--cases N] [--seed S] [--mix plain|full]");
        return ExitCode::from(2);
    };
    let (mut cases, mut seed, mut mix) = (2000usize, 42u64, corpus::Mix::Full);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        let bad = |what: &str| {
            eprintln!("{flag}: must be {what}, not {value:?}");
            ExitCode::from(2)
        };
        match flag.as_str() {
            "--cases" => match value.parse() {
                Ok(n) => cases = n,
                Err(_) => return bad("a whole number"),
            },
            "--seed" => match value.parse() {
                Ok(n) => seed = n,
                Err(_) => return bad("a whole number"),
            },
            "--mix" => match value.as_str() {
                "plain" => mix = corpus::Mix::Plain,
                "full" => mix = corpus::Mix::Full,
                _ => return bad("plain or full"),
            },
            _ => {
                eprintln!("unknown option {flag}");
                return ExitCode::from(2);
            }
        }
    }
    match corpus::write(&dir, &corpus::generate(seed, cases, mix)) {
        Ok(()) => {
            println!("{cases} cases in {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
