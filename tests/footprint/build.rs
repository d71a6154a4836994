//! Puts `memory.x` on the linker's search path, where cortex-m-rt's `link.x` includes it, links
//! with `link.x`, and relinks when either changes. The link script is passed here rather than as
//! `rustflags` in `.cargo/config.toml`, which a `RUSTFLAGS` variable (CI sets `-Dwarnings`) would
//! silently replace, leaving a firmware without a vector table.

use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("memory.x", out.join("memory.x")).expect("memory.x beside Cargo.toml");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
}
