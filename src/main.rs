//! The presencecloud command line: `run` starts a node; `parse` checks one
//! SIP message. Errors are one line on stderr and a non-zero exit.

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
    Run(RunArgs),
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
        Command::Run(args) => run(args),
        Command::Parse { file } => parse(file),
        Command::Rule { db, action } => rule(db, action),
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
    // The exporter is installed here and only here (metrics in one place).
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    presencecloud::telemetry::describe();
    runtime.block_on(async move {
        let node = presencecloud::node::start(config, Some(metrics))
            .await
            .context("starting the node")?;
        // The bound addresses on stdout, one per line, for scripts and tests.
        for l in &node.local {
            println!("listening {l}");
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
