//! The deployment files (issue 9), checked without a Docker engine:
//! `docker-compose config` (Debian's `docker-compose`, which
//! tests/run-all.sh installs) must accept docker-compose.yml; every flag the
//! compose file and the image give `presencecloud run` must be one the
//! binary knows (`run --help`); the Dockerfile must build in stages and run
//! as a non-root user with a health check on /healthz.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(relative: &str) -> String {
    let path = Path::new(ROOT).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A project directory for docker-compose: links to the repository's
/// entries, and `deploy/` with `cluster.env` copied from the example (the
/// real one is the operator's and is not in the repository).
struct Project {
    dir: PathBuf,
}

impl Project {
    fn new() -> Project {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("presencecloud-deploy-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("deploy")).unwrap();
        let link = |from: &Path, to: &Path| {
            std::os::unix::fs::symlink(from, to).unwrap_or_else(|e| {
                panic!("cannot link {} to {}: {e}", to.display(), from.display())
            })
        };
        for entry in std::fs::read_dir(ROOT).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() != "deploy" {
                link(&entry.path(), &dir.join(entry.file_name()));
            }
        }
        for entry in std::fs::read_dir(Path::new(ROOT).join("deploy")).unwrap() {
            let entry = entry.unwrap();
            if entry.file_name() != "cluster.env" {
                link(&entry.path(), &dir.join("deploy").join(entry.file_name()));
            }
        }
        std::fs::copy(
            Path::new(ROOT).join("deploy/cluster.env.example"),
            dir.join("deploy/cluster.env"),
        )
        .expect("deploy/cluster.env.example must exist");
        Project { dir }
    }

    /// `docker-compose -f PROJECT/docker-compose.yml ARGS`; fails the test,
    /// saying how to install it, when docker-compose is absent.
    fn compose(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .arg("-f")
            .arg(self.dir.join("docker-compose.yml"))
            .args(args)
            .current_dir(&self.dir)
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PROJECT_NAME")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "docker-compose is needed to check docker-compose.yml \
                     (apt-get install -y docker-compose, or run tests/run-all.sh): {e}"
                )
            })
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(s)
}

/// The compose file's services: name and the lines of its block. Enough
/// YAML for this file (block style, two-space indentation), not a parser.
fn services(compose: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut inside = false;
    for line in compose.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if indent(line) == 0 {
            inside = line.trim_end() == "services:";
            continue;
        }
        if !inside {
            continue;
        }
        if indent(line) == 2 {
            let name = line.trim().trim_end_matches(':').to_string();
            out.push((name, Vec::new()));
        } else if let Some((_, block)) = out.last_mut() {
            block.push(line.to_string());
        }
    }
    out
}

/// The items of the list (or inline value) under `key:` in a service block.
fn list(block: &[String], key: &str) -> Vec<String> {
    let head = format!("{key}:");
    let Some(at) = block
        .iter()
        .position(|l| indent(l) == 4 && l.trim_start().starts_with(&head))
    else {
        return Vec::new();
    };
    let inline = block[at].trim_start()[head.len()..].trim();
    if !inline.is_empty() {
        // command: ["run", "--node", "pc1"] or command: run --node pc1
        return inline
            .trim_start_matches('[')
            .trim_end_matches(']')
            .split([',', ' '])
            .map(unquote)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
    }
    block[at + 1..]
        .iter()
        .take_while(|l| indent(l) > 4 || (indent(l) == 4 && l.trim_start().starts_with("- ")))
        .filter_map(|l| l.trim_start().strip_prefix("- "))
        .map(|item| unquote(item).to_string())
        .collect()
}

/// `--flag` of every `--flag` and `--flag=value` argument.
fn flags<'a>(args: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    args.into_iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.split('=').next().unwrap().to_string())
        .collect()
}

/// The value after `flag` (`--flag value` or `--flag=value`), every time.
fn values(args: &[String], flag: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if a == flag {
            if let Some(v) = args.get(i + 1) {
                out.push(v.clone());
            }
        } else if let Some(v) = a.strip_prefix(&format!("{flag}=")) {
            out.push(v.to_string());
        }
    }
    out
}

/// The presencecloud services (those whose command is `run ...`), with
/// their command lines.
fn node_commands(compose: &str) -> Vec<(String, Vec<String>)> {
    services(compose)
        .into_iter()
        .map(|(name, block)| (name, list(&block, "command")))
        .filter(|(_, command)| command.first().is_some_and(|c| c == "run"))
        .collect()
}

/// The Dockerfile's instructions, continuation lines joined, comments out.
fn instructions(dockerfile: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(t);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn keyword(instruction: &str) -> String {
    instruction
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// The stages of the Dockerfile: the FROM line and the instructions after it.
fn stages(dockerfile: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for i in instructions(dockerfile) {
        if keyword(&i) == "FROM" {
            out.push((i, Vec::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push(i);
        }
    }
    out
}

/// The arguments of an exec-form (JSON array) CMD or ENTRYPOINT.
fn exec_form(instruction: &str) -> Vec<String> {
    let rest = instruction
        .split_once(char::is_whitespace)
        .map_or("", |x| x.1);
    let rest = rest.trim();
    assert!(
        rest.starts_with('[') && rest.ends_with(']'),
        "{instruction:?} is not in exec form"
    );
    rest[1..rest.len() - 1]
        .split(',')
        .map(unquote)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn run_help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_presencecloud"))
        .args(["run", "--help"])
        .output()
        .expect("the presencecloud binary runs");
    assert!(
        out.status.success(),
        "presencecloud run --help failed: {out:?}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `help` lists `flag` as a whole word (`--db` is not `--db-pool`).
fn lists(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(at, _)| {
        let before = help[..at].chars().next_back();
        let after = help[at + flag.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
    })
}

#[test]
fn compose_file_is_valid_for_docker_compose() {
    let project = Project::new();
    let out = project.compose(&["config", "--quiet"]);
    assert!(
        out.status.success(),
        "docker-compose config rejects docker-compose.yml:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = project.compose(&["config", "--services"]);
    assert!(
        out.status.success(),
        "docker-compose config --services failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<&str> = listed.lines().map(str::trim).collect();
    for service in ["pc1", "pc2", "pc3", "postgres", "sipp"] {
        assert!(
            listed.contains(&service),
            "service {service} missing from docker-compose config: {listed:?}"
        );
    }

    // As docker-compose resolves it (anchors merged, env_file read): every
    // node gets its secrets from deploy/cluster.env.
    let out = project.compose(&["config"]);
    assert!(out.status.success());
    let resolved = String::from_utf8_lossy(&out.stdout);
    let resolved = services(&resolved);
    for node in ["pc1", "pc2", "pc3"] {
        let block = &resolved
            .iter()
            .find(|(n, _)| n == node)
            .unwrap_or_else(|| panic!("{node} in docker-compose config"))
            .1;
        for key in [
            "PRESENCECLOUD_CLUSTER_SECRET:",
            "PRESENCECLOUD_ADMIN_TOKEN:",
            "PGPASSWORD:",
        ] {
            assert!(
                block.iter().any(|l| l.trim_start().starts_with(key)),
                "{node} gets {key} from deploy/cluster.env"
            );
        }
        assert!(
            block.iter().any(|l| l.trim_start().starts_with("test:")),
            "{node} has a health check"
        );
    }
}

#[test]
fn every_flag_the_deployment_uses_is_in_run_help() {
    let help = run_help();
    let compose = read("docker-compose.yml");
    let nodes = node_commands(&compose);
    let names: Vec<&str> = nodes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["pc1", "pc2", "pc3"],
        "the presencecloud services of docker-compose.yml"
    );

    // flag -> where it is used
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (name, command) in &nodes {
        for flag in flags(command) {
            used.entry(flag)
                .or_default()
                .insert(format!("service {name}"));
        }
    }
    // The image's default command (ENTRYPOINT is the binary).
    let dockerfile = read("Dockerfile");
    let (_, runtime) = stages(&dockerfile).pop().expect("a FROM line");
    let cmd = runtime
        .iter()
        .rfind(|i| keyword(i) == "CMD")
        .expect("the runtime stage has a CMD");
    let cmd = exec_form(cmd);
    assert_eq!(
        cmd.first().map(String::as_str),
        Some("run"),
        "CMD runs a node: {cmd:?}"
    );
    for flag in flags(&cmd) {
        used.entry(flag)
            .or_default()
            .insert("Dockerfile CMD".into());
    }

    let missing: Vec<String> = used
        .iter()
        .filter(|(flag, _)| !lists(&help, flag))
        .map(|(flag, at)| {
            format!(
                "{flag} (used by {})",
                Vec::from_iter(at.iter().cloned()).join(", ")
            )
        })
        .collect();
    assert!(
        missing.is_empty(),
        "flags the deployment uses that `presencecloud run --help` does not list:\n  {}\n\
         run --help says:\n{help}",
        missing.join("\n  ")
    );
}

#[test]
fn compose_cluster_is_wired_as_documented() {
    let compose = read("docker-compose.yml");
    let nodes = node_commands(&compose);
    assert_eq!(nodes.len(), 3, "three presencecloud nodes");
    let all_services = services(&compose);
    let names: Vec<&str> = all_services.iter().map(|(n, _)| n.as_str()).collect();
    for (name, command) in &nodes {
        assert_eq!(
            values(command, "--node"),
            std::slice::from_ref(name),
            "{name}: --node is its name"
        );
        assert_eq!(
            values(command, "--cluster"),
            ["0.0.0.0:7000"],
            "{name}: --cluster"
        );
        let joins = values(command, "--join");
        assert!(!joins.is_empty(), "{name}: at least one --join seed");
        for seed in &joins {
            let host = seed.rsplit_once(':').map_or(seed.as_str(), |x| x.0);
            assert!(
                names.contains(&host) && host != name,
                "{name}: seed {seed} is another service of the file"
            );
        }
        assert_eq!(
            values(command, "--db"),
            [format!(
                "postgres://presencecloud@postgres:5432/presence_{name}"
            )],
            "{name}: its own database, password from PGPASSWORD (env file)"
        );
        assert_eq!(
            values(command, "--admin"),
            ["0.0.0.0:8080"],
            "{name}: --admin"
        );
        // Secrets come from the env file, never from a command line (ps, logs).
        for secret in ["--cluster-secret", "--admin-token"] {
            assert!(
                values(command, secret).is_empty(),
                "{name}: {secret} belongs in deploy/cluster.env"
            );
        }
    }

    // Every published port is on the host's loopback.
    for (name, block) in &all_services {
        for port in list(block, "ports") {
            assert!(
                port.starts_with("127.0.0.1:"),
                "{name}: port {port} is published beyond loopback"
            );
        }
    }

    // The env file the nodes read carries every secret they need.
    let env = read("deploy/cluster.env.example");
    for key in [
        "PRESENCECLOUD_CLUSTER_SECRET=",
        "PRESENCECLOUD_ADMIN_TOKEN=",
        "POSTGRES_USER=presencecloud",
        "POSTGRES_PASSWORD=",
        "PGPASSWORD=",
    ] {
        assert!(
            env.lines().any(|l| l.starts_with(key)),
            "deploy/cluster.env.example sets {key}"
        );
    }

    // postgres creates one database per node.
    let postgres = &all_services
        .iter()
        .find(|(n, _)| n == "postgres")
        .expect("a postgres service")
        .1;
    assert!(
        postgres.iter().any(|l| l.contains("image: postgres:16")),
        "postgres service runs postgres:16"
    );
    assert!(
        postgres
            .iter()
            .any(|l| l.contains("deploy/postgres-init.sh:/docker-entrypoint-initdb.d/")),
        "postgres runs deploy/postgres-init.sh on its first start"
    );
    let databases = postgres
        .iter()
        .find_map(|l| l.trim().strip_prefix("PRESENCECLOUD_DATABASES:"))
        .expect("postgres lists PRESENCECLOUD_DATABASES");
    for (name, _) in &nodes {
        assert!(
            databases
                .split_whitespace()
                .any(|d| d == format!("presence_{name}")),
            "postgres creates presence_{name}: {databases}"
        );
    }
    let init = read("deploy/postgres-init.sh");
    assert!(init.contains("PRESENCECLOUD_DATABASES") && init.contains("CREATE DATABASE"));

    // The load generator runs the two scenarios, after the nodes are healthy.
    let sipp = &all_services
        .iter()
        .find(|(n, _)| n == "sipp")
        .expect("a sipp service")
        .1;
    let text = sipp.join("\n");
    for node in ["pc1", "pc2", "pc3"] {
        assert!(
            text.contains(&format!(
                "      {node}:\n        condition: service_healthy"
            )),
            "sipp waits for {node} to be healthy"
        );
    }
    let runner = read("deploy/sipp-run.sh");
    for scenario in ["publisher.xml", "watcher.xml"] {
        assert!(
            runner.contains(scenario),
            "deploy/sipp-run.sh runs {scenario}"
        );
        assert!(
            Path::new(ROOT)
                .join("sipp-scenarios")
                .join(scenario)
                .is_file(),
            "sipp-scenarios/{scenario} exists"
        );
    }
}

#[test]
fn dockerfile_builds_in_stages_and_runs_unprivileged() {
    let dockerfile = read("Dockerfile");
    let stages = stages(&dockerfile);
    assert!(
        stages.len() >= 2,
        "a multi-stage build: {} FROM lines",
        stages.len()
    );

    let (from, build) = &stages[0];
    assert!(
        from.contains("rust:1-bookworm"),
        "builds with the Rust image: {from}"
    );
    assert!(
        build
            .iter()
            .any(|i| keyword(i) == "RUN" && i.contains("cargo build --release --locked")),
        "the build stage runs cargo build --release --locked"
    );

    let (from, runtime) = stages.last().unwrap();
    assert!(
        from.contains("debian:bookworm-slim"),
        "runs on slim Debian: {from}"
    );
    assert!(
        runtime
            .iter()
            .any(|i| keyword(i) == "COPY" && i.contains("--from=build")),
        "the runtime stage takes the binary from the build stage"
    );
    let user = runtime
        .iter()
        .rfind(|i| keyword(i) == "USER")
        .expect("the runtime stage sets USER");
    let who = user.split_whitespace().nth(1).unwrap_or("");
    let who = who.split(':').next().unwrap();
    assert!(
        !who.is_empty() && who != "root" && who != "0",
        "runs as a non-root user: {user}"
    );
    let health = runtime
        .iter()
        .find(|i| keyword(i) == "HEALTHCHECK")
        .expect("the runtime stage has a HEALTHCHECK");
    assert!(
        health.contains("curl") && health.contains("/healthz"),
        "the health check asks /healthz with curl: {health}"
    );
    assert!(
        runtime
            .iter()
            .any(|i| keyword(i) == "RUN" && i.contains("install") && i.contains("curl")),
        "curl is installed in the runtime image"
    );
    let exposed: Vec<&str> = runtime
        .iter()
        .filter(|i| keyword(i) == "EXPOSE")
        .flat_map(|i| i.split_whitespace().skip(1))
        .collect();
    for port in ["5060/udp", "5060/tcp", "7000", "8080"] {
        assert!(
            exposed
                .iter()
                .any(|e| *e == port || *e == format!("{port}/tcp")),
            "EXPOSE {port}: {exposed:?}"
        );
    }
    let entrypoint = runtime
        .iter()
        .rfind(|i| keyword(i) == "ENTRYPOINT")
        .expect("the runtime stage has an ENTRYPOINT");
    assert!(
        exec_form(entrypoint)
            .first()
            .is_some_and(|e| e.ends_with("/presencecloud")),
        "the entrypoint is the binary: {entrypoint}"
    );
    let cmd = exec_form(
        runtime
            .iter()
            .rfind(|i| keyword(i) == "CMD")
            .expect("a CMD"),
    );
    let db = values(&cmd, "--db");
    assert!(
        db.len() == 1 && db[0].starts_with("sqlite:///var/lib/presencecloud/"),
        "the default command keeps SQLite in the volume: {cmd:?}"
    );
    assert!(
        runtime
            .iter()
            .any(|i| keyword(i) == "VOLUME" && i.contains("/var/lib/presencecloud")),
        "/var/lib/presencecloud is a volume"
    );

    let ignore = read(".dockerignore");
    for entry in ["target", ".git", "deploy/cluster.env"] {
        assert!(
            ignore.lines().any(|l| l.trim() == entry),
            ".dockerignore keeps {entry} out of the build context"
        );
    }
}

#[test]
fn the_text_parsers_read_what_they_should() {
    let compose = "\
x-node: &node
  image: presencecloud:latest
services:
  a:
    <<: *node
    command:
      - run
      - --node
      - a
      - --db=sqlite://x.db
    ports:
      - \"127.0.0.1:1:1/udp\"
  b:
    command: [\"run\", \"--join\", \"a:7000\"]
  c:
    image: postgres:16
volumes:
  v:
";
    let nodes = node_commands(compose);
    assert_eq!(nodes.len(), 2);
    assert_eq!(flags(&nodes[0].1), ["--node", "--db"]);
    assert_eq!(values(&nodes[0].1, "--db"), ["sqlite://x.db"]);
    assert_eq!(values(&nodes[1].1, "--join"), ["a:7000"]);
    let s = services(compose);
    assert_eq!(list(&s[0].1, "ports"), ["127.0.0.1:1:1/udp"]);
    assert!(lists("  --db <URL>  Store", "--db"));
    assert!(!lists("  --db-pool <N>", "--db"));
    let d = stages("FROM a AS b\nRUN x \\\n  y\n# c\nFROM d\nCMD [\"run\", \"--x\"]\n");
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].1, ["RUN x  y"]);
    assert_eq!(exec_form(&d[1].1[0]), ["run", "--x"]);
}
