//! Links a freestanding static executable: no crt0, no libc. Set here rather than through
//! RUSTFLAGS, which would also reach build scripts.

fn main() {
    for arg in ["-nostartfiles", "-nostdlib", "-static"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}
