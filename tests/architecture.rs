//! Architecture guard: the sans-io layers never touch tokio, sockets or the
//! clock (DESIGN.md, "Layers"). Time and input come in as arguments; only
//! the node driver does I/O. Comments are ignored, code is not.

use std::path::{Path, PathBuf};

const FORBIDDEN: [&str; 4] = ["tokio", "std::net", "Instant::now", "SystemTime::now"];

/// The modules that must stay sans-io, relative to src/.
const SANS_IO: [&str; 7] = [
    "sip",
    "transaction",
    "router",
    "presence",
    "proxy",
    "locate",
    "cloud",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn violations(files: &[PathBuf]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN {
                if code.contains(word) {
                    found.push(format!(
                        "{}:{}: {word}: {}",
                        file.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn sans_io_modules_use_no_tokio_sockets_or_clock() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for module in SANS_IO {
        let mut files = Vec::new();
        let root = src.join(format!("{module}.rs"));
        assert!(root.exists(), "{} is missing", root.display());
        files.push(root);
        rust_files(&src.join(module), &mut files);
        assert!(files.len() > 1, "{module}/ has its submodules");
        let v = violations(&files);
        assert!(
            v.is_empty(),
            "sans-io module {module} reaches for I/O or the clock:\n{}",
            v.join("\n")
        );
    }
}

#[test]
fn the_guard_catches_what_it_forbids() {
    let dir = std::env::temp_dir().join(format!("presencecloud-arch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.rs");
    std::fs::write(
        &bad,
        "// tokio in a comment is fine\nuse std::net::UdpSocket;\nlet t = Instant::now();\n",
    )
    .unwrap();
    let v = violations(&[bad]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(v.len(), 2, "{v:?}");
}
