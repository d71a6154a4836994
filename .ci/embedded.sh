#!/usr/bin/env bash
# Embedded checks for tollgate-core and tollgate-embassy, runnable on a fresh machine and
# idempotent:
#   1. installs the bare-metal targets, llvm-tools and qemu-system-arm if they are missing;
#   2. builds tollgate-core for thumbv6m, thumbv7em and riscv32imc, and checks tollgate-embassy
#      for thumbv6m and thumbv7em, each without and with defmt;
#   3. links and runs tests/nostd-check (a freestanding no_std, no-alloc host binary);
#   4. builds tests/firmware for a Cortex-M3 and runs it under QEMU, without and with defmt;
#   5. builds embassy-adapter/firmware (an embassy application whose tasks share the per-number
#      outbound throttle) and runs it under QEMU, without and with defmt;
#   6. prints both firmwares' flash and RAM use;
#   7. measures a 64-number keyed GCRA (tests/footprint, thumbv7em) against an empty firmware and
#      fails if it costs more than 2 KiB of flash or puts any of its table in `.data`.
# Quiet on success (a line per stage); any failure prints its output and exits non-zero.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS
lap_start=$SECONDS
lap() { # sets $took to the seconds since the previous call
    took="$((SECONDS - lap_start)) s"
    lap_start=$SECONDS
}
stage="setup"
trap 'echo "embedded: FAILED during: $stage" >&2' ERR

core_targets=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imc-unknown-none-elf)
embassy_targets=(thumbv6m-none-eabi thumbv7em-none-eabihf)
footprint_target=thumbv7em-none-eabihf
footprint_budget=2048 # bytes of flash for the keyed limiter's code and constants
firmware_target=thumbv7m-none-eabi
# Seconds per QEMU run. tests/firmware finishes in well under one; the embassy firmware runs about
# two seconds of virtual time, which QEMU keeps in step with the host's clock.
qemu_timeout=60

# 1. Tools ------------------------------------------------------------------------------------
stage="installing tools"
installed=$(rustup target list --installed)
missing=()
for t in "${core_targets[@]}" "${embassy_targets[@]}" "$firmware_target"; do
    grep -qx "$t" <<<"$installed" || missing+=("$t")
done
if ((${#missing[@]})); then
    rustup target add "${missing[@]}" >/dev/null
fi
components=$(rustup component list --installed)
if ! grep -q '^llvm-tools' <<<"$components"; then
    rustup component add llvm-tools >/dev/null
fi
if ! command -v qemu-system-arm >/dev/null; then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
lap
echo "embedded: tools ready, $(qemu-system-arm --version | head -n1) ($took)"

# 2. Core on bare-metal targets ----------------------------------------------------------------
stage="building tollgate-core for bare-metal targets"
target_args=()
for t in "${core_targets[@]}"; do target_args+=(--target "$t"); done
cargo build -q -p tollgate-core "${target_args[@]}"
cargo build -q -p tollgate-core "${target_args[@]}" --features defmt
lap
echo "embedded: tollgate-core builds for ${core_targets[*]} (plain and defmt) ($took)"

stage="checking tollgate-embassy for bare-metal targets"
target_args=()
for t in "${embassy_targets[@]}"; do target_args+=(--target "$t"); done
cargo check -q -p tollgate-embassy "${target_args[@]}"
cargo check -q -p tollgate-embassy "${target_args[@]}" --features defmt
lap
echo "embedded: tollgate-embassy checks for ${embassy_targets[*]} (plain and defmt) ($took)"

# 3. Host link check: no std, no alloc, no libc ------------------------------------------------
stage="tests/nostd-check"
for features in "" "--features=tollgate-core/defmt"; do
    (cd tests/nostd-check && cargo build -q ${features:+"$features"} && ./target/debug/nostd-check)
done
lap
echo "embedded: nostd-check links freestanding and exits 0, plain and defmt ($took)"

# 4. Firmware under QEMU -------------------------------------------------------------------------
log=$(mktemp)
trap 'rm -f "$log"' EXIT
run_firmware() { # $1: crate folder, $2: its summary line (a grep BRE), $3: label, rest: cargo features
    local dir=$1 summary=$2 label=$3
    shift 3
    stage="building $dir ($label)"
    (cd "$dir" && cargo build -q --release "$@")
    stage="running $dir under QEMU ($label)"
    local rc=0
    (cd "$dir" && timeout -k 5 "$qemu_timeout" cargo run -q --release "$@") >"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
        cat "$log" >&2
        ((rc == 124)) && echo "embedded: QEMU timed out after ${qemu_timeout}s" >&2
        return "$rc"
    fi
    grep -q "$summary" "$log" || {
        cat "$log" >&2
        echo "embedded: $dir exited 0 without its summary line" >&2
        return 1
    }
}
core_summary='^firmware: [0-9]* passed, 0 failed$'
run_firmware tests/firmware "$core_summary" defmt --features=tollgate-core/defmt
lap
echo "embedded: firmware with defmt on $firmware_target under QEMU: $(grep '^firmware: ' "$log" | cut -d' ' -f2-) ($took)"
run_firmware tests/firmware "$core_summary" plain
lap
echo "embedded: firmware on $firmware_target under QEMU, lm3s6965evb ($took):"
grep '^firmware: ' "$log"

# 5. The embassy firmware under QEMU --------------------------------------------------------------
embassy_summary='^embassy firmware: [0-9]* checks passed, 0 failed$'
run_firmware embassy-adapter/firmware "$embassy_summary" defmt --features=defmt
lap
echo "embedded: embassy firmware with defmt on $firmware_target under QEMU: $(grep "$embassy_summary" "$log" | cut -d' ' -f3-) ($took)"
run_firmware embassy-adapter/firmware "$embassy_summary" plain
lap
echo "embedded: embassy firmware on $firmware_target under QEMU, lm3s6965evb ($took):"
grep -e '^embassy firmware: size_of ' -e "$embassy_summary" "$log"

# 6. Flash and RAM ------------------------------------------------------------------------------
stage="measuring the firmwares"
llvm_size=("$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-size)
size_table() { # $1: an ELF; prints its sections, flash and RAM
    "${llvm_size[0]}" -A "$1" | awk -v elf="$1" '
        { size[$1] = $2 }
        END {
            vt = size[".vector_table"] + 0; text = size[".text"] + 0; ro = size[".rodata"] + 0
            data = size[".data"] + 0; bss = size[".bss"] + 0; uninit = size[".uninit"] + 0
            printf "embedded: %s (release, opt-level s, LTO), bytes:\n", elf
            printf "  %-7s %-7s %-7s %-7s %-7s | %-7s %-7s\n", ".vector", ".text", ".rodata", ".data", ".bss", "flash", "RAM"
            printf "  %-7d %-7d %-7d %-7d %-7d | %-7d %-7d\n", vt, text, ro, data, bss + uninit, vt + text + ro + data, data + bss + uninit
        }'
}
size_table "tests/firmware/target/$firmware_target/release/tollgate-firmware"
embassy_elf=embassy-adapter/firmware/target/$firmware_target/release/tollgate-embassy-firmware
size_table "$embassy_elf"
# Where the statics went: the numbers' states (`OutboundKeys<64>`) must be all zeros until used,
# so in .bss; in .data they would cost their size in flash as well. The configuration
# (`Outbound<64>`) is small and initialised.
static_in() { # $1: the static's name; prints "SIZE_HEX KIND"
    "${llvm_size[0]%/*}/llvm-nm" -S -C "$embassy_elf" | grep -E "::$1(::h[0-9a-f]+)?$" |
        awk '{ print $2, $3 }'
}
read -r states_size states_kind < <(static_in NUMBER_STATES)
read -r outbound_size outbound_kind < <(static_in OUTBOUND)
states_size=$((16#$states_size))
outbound_size=$((16#$outbound_size))
echo "  of which static NUMBER_STATES (OutboundKeys<64>, 2 x 64 slots): $states_size B in $states_kind (b: .bss, RAM only)"
echo "  and static OUTBOUND (Outbound<64>, the limits): $outbound_size B in $outbound_kind"
if [[ $states_kind != [bB] ]]; then
    echo "embedded: the numbers' states are not in .bss (kind $states_kind): they cost flash too" >&2
    exit 1
fi
echo "  flash = .vector_table + .text + .rodata + .data; RAM = .data + .bss (+ .uninit), stack not counted"

# 7. Footprint of a keyed limiter ---------------------------------------------------------------
stage="measuring tests/footprint"
(cd tests/footprint && cargo build -q --release)
sizes() { # $1: binary; prints "flash data bss"
    "${llvm_size[0]}" -A "tests/footprint/target/$footprint_target/release/$1" | awk '
        { size[$1] = $2 }
        END { printf "%d %d %d\n", size[".vector_table"] + size[".text"] + size[".rodata"] + size[".data"],
                                   size[".data"], size[".bss"] + size[".uninit"] }'
}
read -r base_flash base_data base_bss < <(sizes empty)
echo "embedded: 64-number keyed GCRA in a static, $footprint_target (opt-level s, LTO), bytes beyond an empty cortex-m-rt firmware:"
printf '  %-12s %-7s %-7s %-7s\n' overflow "+flash" "+.data" "+.bss"
for bin in keyed keyed-evict; do
    read -r flash data bss < <(sizes "$bin")
    printf '  %-12s %-7d %-7d %-7d\n' "$bin" $((flash - base_flash)) $((data - base_data)) $((bss - base_bss))
    if ((flash - base_flash > footprint_budget)); then
        echo "embedded: $bin costs $((flash - base_flash)) B of flash, over the $footprint_budget B budget" >&2
        exit 1
    fi
    if ((data != base_data)); then
        echo "embedded: $bin puts $((data - base_data)) B in .data: its static table is not all zeros" >&2
        exit 1
    fi
done
lap
echo "embedded: keyed limiter footprint within ${footprint_budget} B of flash, table in .bss ($took)"

echo "embedded: all stages passed in $((SECONDS - start)) s"
