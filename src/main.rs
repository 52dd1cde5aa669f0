//! The presencecloud command line: `run` starts a node; `parse` checks one
//! SIP message; `latency` reports from the latency records; `simulate`
//! compares the cost of buddy search (PresenceCloud, mesh, DHT) over a
//! simulated network. Errors are one line on stderr and a non-zero exit.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use presencecloud::config::{Config, RunArgs};
use presencecloud::sip;

#[derive(Parser)]
#[command(name = "presencecloud", version, about = "SIP/SIMPLE presence proxy")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node.
    Run(Box<RunArgs>),
    /// Parse one SIP message (a file, or stdin) and print it in canonical
    /// form, or the answer a server would give it.
    Parse { file: Option<std::path::PathBuf> },
    /// Presence authorization rules (RFC 3856 §6.6), kept in the store; a
    /// running node picks changes up within a second.
    Rule {
        /// Store URL [default: sqlite://presencecloud.db].
        #[arg(long, global = true, value_name = "URL")]
        db: Option<String>,
        #[command(subcommand)]
        action: RuleCommand,
    },
    /// Latency report: per transaction kind, p50/p90/p99/max of the
    /// completed transactions, from records files or a running node.
    Latency(LatencyArgs),
    /// Simulate the cost of finding buddies on user arrival: PresenceCloud
    /// (the real overlay code), a full mesh and a Chord DHT, over a
    /// simulated network; prints a table, optionally CSV and an SVG plot.
    Simulate(presencecloud::simulate::SimulateArgs),
}

#[derive(clap::Args)]
struct LatencyArgs {
    /// A CSV records file (telemetry.records_csv), repeatable (FILE.1 FILE).
    #[arg(long, value_name = "FILE", conflicts_with = "admin")]
    records: Vec<std::path::PathBuf>,
    /// A running node's admin listener: its latest records
    /// (GET /api/transactions).
    #[arg(long, value_name = "HOST:PORT")]
    admin: Option<String>,
    /// The admin API's bearer token (needed beyond loopback).
    #[arg(long = "admin-token", value_name = "TOKEN", conflicts_with = "records")]
    admin_token: Option<String>,
}

#[derive(Subcommand)]
enum RuleCommand {
    /// Sets what WATCHER (user@host, *@domain or *) may see of PRESENTITY
    /// (user@host): allow, block, polite-block or confirm.
    Set {
        presentity: String,
        watcher: String,
        action: String,
    },
    /// Removes a rule.
    Remove { presentity: String, watcher: String },
    /// Lists the rules of a presentity, or every rule.
    List { presentity: Option<String> },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // clap explains on several lines; the first says what is wrong.
            let text = e.to_string();
            eprintln!(
                "presencecloud: {}",
                text.lines()
                    .next()
                    .unwrap_or("bad arguments")
                    .trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::Parse { file } => parse(file),
        Command::Rule { db, action } => rule(db, action),
        Command::Latency(args) => latency(args),
        Command::Simulate(args) => simulate(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("presencecloud: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args).context("configuration")?;
    presencecloud::logging::init(&config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    // The exporter is installed here and only here (metrics in one place);
    // without instrumentation no recorder is installed and every metric
    // call is a no-op.
    let metrics = if config.instrumentation {
        let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .context("installing the metrics recorder")?;
        presencecloud::telemetry::describe();
        Some(handle)
    } else {
        None
    };
    runtime.block_on(async move {
        let node = presencecloud::node::start(config, metrics)
            .await
            .context("starting the node")?;
        // The bound addresses on stdout, one per line, for scripts and tests.
        for l in &node.local {
            println!("listening {l}");
        }
        if let Some(c) = node.cluster {
            println!("cluster {c}");
        }
        println!("admin http://{}", node.admin);
        node.run_until_signal().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn rule(db: Option<String>, action: RuleCommand) -> anyhow::Result<ExitCode> {
    use presencecloud::presence::authorization::Action;
    use presencecloud::store::{AuthRule, Store};
    let url = db.unwrap_or_else(|| "sqlite://presencecloud.db".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let store = Store::open(&url).await.context("--db")?;
        match action {
            RuleCommand::Set {
                presentity,
                watcher,
                action,
            } => {
                let a = Action::parse(&action).map_err(|e| anyhow::anyhow!("action: {e}"))?;
                store
                    .put_rule(&AuthRule {
                        presentity,
                        watcher,
                        action: a.as_str().into(),
                    })
                    .await
                    .context("writing the rule")?;
            }
            RuleCommand::Remove {
                presentity,
                watcher,
            } => {
                if !store
                    .remove_rule(&presentity, &watcher)
                    .await
                    .context("removing the rule")?
                {
                    anyhow::bail!("no rule for {watcher} on {presentity}");
                }
            }
            RuleCommand::List { presentity } => {
                let rules = match presentity {
                    Some(p) => store.rules(&p).await,
                    None => store.all_rules().await,
                }
                .context("reading rules")?;
                for r in rules {
                    println!("{}\t{}\t{}", r.presentity, r.watcher, r.action);
                }
            }
        }
        store.close().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn simulate(args: presencecloud::simulate::SimulateArgs) -> anyhow::Result<ExitCode> {
    use presencecloud::simulate;
    let rows = simulate::run(&args)?;
    print!("{}", simulate::table(&rows));
    Ok(ExitCode::SUCCESS)
}

fn latency(args: LatencyArgs) -> anyhow::Result<ExitCode> {
    use presencecloud::telemetry::Record;
    if args.records.is_empty() && args.admin.is_none() {
        eprintln!("presencecloud: latency reads --records FILE or --admin HOST:PORT");
        return Ok(ExitCode::from(2));
    }
    let mut records = Vec::new();
    if let Some(addr) = &args.admin {
        records = admin_records(addr, args.admin_token.as_deref())?;
    }
    for path in &args.records {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        records.extend(Record::parse_csv(&text).with_context(|| path.display().to_string())?);
    }
    let report = presencecloud::latency::summarize(&records);
    print!("{}", presencecloud::latency::render(&report));
    Ok(ExitCode::SUCCESS)
}

/// `GET /api/transactions` from a node's admin listener.
fn admin_records(
    addr: &str,
    token: Option<&str>,
) -> anyhow::Result<Vec<presencecloud::telemetry::Record>> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let timeout = std::time::Duration::from_secs(5);
    let target = addr
        .to_socket_addrs()
        .with_context(|| format!("--admin {addr}"))?
        .next()
        .with_context(|| format!("--admin {addr}: no address"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&target, timeout)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let mut response = Vec::new();
    write!(
        stream,
        "GET /api/transactions HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .and_then(|()| stream.read_to_end(&mut response))
    .with_context(|| format!("reading the records of {addr}"))?;
    presencecloud::latency::from_http(&response).map_err(|e| anyhow::anyhow!("{addr}: {e}"))
}

fn parse(file: Option<std::path::PathBuf>) -> anyhow::Result<ExitCode> {
    let mut buf = Vec::new();
    match &file {
        Some(path) => {
            buf = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?
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
