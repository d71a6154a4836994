//! A client that reads the rate-limit headers of every response and waits as they say, so it
//! never gets a second 429 in a row.
//!
//! ```sh
//! cargo tollgate serve --policy std-adapter/examples/policies/000-concurrent-minute-quarter.toml &
//! cargo run -p tollgate-std --features tower --example client -- http://127.0.0.1:8080/api/orders 320
//! ```
//!
//! Against seed 000's API (300 a minute) the first 300 requests go at once, then the client
//! waits for the minute to roll rather than hammering: it prints each response and each wait,
//! and exits with status 1 if a 429 ever follows a 429.

use std::time::Instant;

use tollgate_std::client::Pacer;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| String::from("http://127.0.0.1:8080/api/hello"));
    let requests: u32 = args.next().map_or(Ok(20), |n| n.parse())?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let pacer = Pacer::new(
        std::time::Duration::from_millis(250),
        std::time::Duration::from_secs(60),
    )?;
    let start = Instant::now();
    let (mut limited, mut previous_limited) = (0, false);
    for i in 1..=requests {
        let wait = pacer.until_ready();
        if !wait.is_zero() {
            println!(
                "{:>8.3} s  waiting {:.3} s as the server asked",
                start.elapsed().as_secs_f64(),
                wait.as_secs_f64()
            );
        }
        pacer.wait();
        let response = agent.get(&url).call()?;
        let status = response.status().as_u16();
        let remaining = response
            .headers()
            .get("x-ratelimit-remaining")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string();
        let next = pacer.on_response(status, response.headers());
        println!(
            "{:>8.3} s  request {i:>4}: {status}, remaining {remaining}",
            start.elapsed().as_secs_f64()
        );
        if status == 429 {
            limited += 1;
            if previous_limited {
                eprintln!("a second 429 in a row: the pacer did not wait long enough");
                std::process::exit(1);
            }
        }
        previous_limited = status == 429;
        if next.is_give_up() {
            eprintln!("the pacer gave up: {next:?}");
            std::process::exit(1);
        }
    }
    println!("{requests} requests, {limited} answered 429, never two in a row");
    Ok(())
}
