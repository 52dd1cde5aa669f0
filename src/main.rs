//! The presencecloud command line.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use presencecloud::sip;

const USAGE: &str = "usage: presencecloud parse [FILE]   parse one SIP message (stdin when no FILE) and print it in canonical form";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("presencecloud: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("parse") => {
            let mut buf = Vec::new();
            match args.get(1) {
                Some(path) => {
                    buf = std::fs::read(path).with_context(|| format!("cannot read {path}"))?
                }
                None => {
                    std::io::stdin()
                        .read_to_end(&mut buf)
                        .context("cannot read stdin")?;
                }
            }
            match sip::parse(&buf) {
                Ok(msg) => {
                    use std::io::Write;
                    std::io::stdout().write_all(&msg.print())?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    match e.disposition() {
                        sip::Disposition::Reject { status, reason } => {
                            println!("would answer: SIP/2.0 {status} {reason}")
                        }
                        sip::Disposition::Drop => println!("would drop: {e}"),
                    }
                    Ok(ExitCode::from(1))
                }
            }
        }
        Some("-h" | "--help" | "help") | None => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => anyhow::bail!("unknown command {other:?}\n{USAGE}"),
    }
}
