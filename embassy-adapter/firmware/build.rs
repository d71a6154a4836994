//! Puts `memory.x` on the linker's search path, where cortex-m-rt's `link.x` includes it, links
//! with `link.x` (and, with the `defmt` feature, defmt's `defmt.x`, which gives defmt's interned
//! strings their indices outside the image), and relinks when either changes. The link scripts
//! are passed here rather than as `rustflags` in `.cargo/config.toml`, which a `RUSTFLAGS`
//! variable (CI sets `-Dwarnings`) would silently replace, leaving a firmware without a vector
//! table.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("memory.x beside Cargo.toml");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    if env::var_os("CARGO_FEATURE_DEFMT").is_some() {
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x"); // found in defmt's own OUT_DIR
    }
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
