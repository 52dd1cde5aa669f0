// sqlx embeds migrations/ at compile time; a new migration file must
// rebuild the crate (stable cargo does not see it otherwise).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
