//! Runs one case `n` times, for `valgrind --tool=callgrind --toggle-collect=...`:
//! `count <case> <n>`; `count --list` names the cases.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--list") {
        for c in tollgate_bench::CASES {
            println!("{}", c.name);
        }
        return;
    }
    let (Some(name), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse::<u64>().ok()))
    else {
        eprintln!("usage: count <case> <n> | count --list");
        std::process::exit(2);
    };
    let Some(case) = tollgate_bench::CASES.iter().find(|c| c.name == name) else {
        eprintln!("no case {name}");
        std::process::exit(2);
    };
    println!("{name}: {} of {n} admitted", (case.run)(n).admitted);
}
