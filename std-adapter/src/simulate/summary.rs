//! What a simulation did, in numbers: the table `tollgate simulate` prints.

use core::fmt;

use tollgate_core::Allowance;

use super::plot::Series;
use crate::HZ;
use crate::config::{AlgorithmKind, format_duration};

/// One key's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTotals {
    /// The tier its limits came from.
    pub tier: String,
    /// The key (`None`: the trace's one shared key).
    pub key: Option<String>,
    /// Requests decided.
    pub requests: u64,
    /// Of which admitted.
    pub admitted: u64,
    /// Of which denied.
    pub denied: u64,
}

/// One limit's record over the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitTotals {
    /// The tier it belongs to.
    pub tier: String,
    /// Its name.
    pub name: String,
    /// Its algorithm.
    pub algorithm: AlgorithmKind,
    /// What it allows.
    pub allowance: Allowance<HZ>,
    /// Requests it denied (the first limit to deny a request is the one counted).
    pub denied: u64,
    /// The most any key was admitted in any window of the limit's length (a concurrency limit:
    /// the most in flight at once), in units of cost.
    pub most: u64,
    /// The key that reached it first (empty for the shared key).
    pub most_key: Option<String>,
    /// When (trace ms).
    pub most_at_ms: u64,
}

/// What a simulation did: see [`Simulation::finish`](super::Simulation::finish).
#[derive(Debug)]
pub struct Summary {
    /// Requests decided.
    pub requests: u64,
    /// Of which admitted.
    pub admitted: u64,
    /// Of which denied.
    pub denied: u64,
    /// The first request's time.
    pub first_ms: Option<u64>,
    /// The last request's time.
    pub last_ms: Option<u64>,
    /// Every key, the busiest first.
    pub keys: Vec<KeyTotals>,
    /// Every limit of every tier, in the file's order.
    pub limits: Vec<LimitTotals>,
    /// Admissions, denials and occupancy over time, for a plot.
    pub series: Series,
}

/// The keys the table lists by name; the rest are summed in one line.
const KEYS_SHOWN: usize = 10;

impl Summary {
    /// Whether every limit held: no key was ever admitted more than a limit's count in a
    /// window of its length (or had more in flight), for the limits that promise that
    /// (sliding logs, sliding windows and concurrency; GCRA and its kin promise a rate with a
    /// burst, which lets a window hold up to `burst + limit − 1`).
    pub fn limits_held(&self) -> bool {
        self.limits
            .iter()
            .all(|l| match (l.algorithm, l.allowance) {
                (
                    AlgorithmKind::SlidingLog
                    | AlgorithmKind::SlidingWindow
                    | AlgorithmKind::Concurrency,
                    Allowance::PerWindow { count, .. } | Allowance::InFlight { count },
                ) => l.most <= u64::from(count),
                _ => true,
            })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let span = match (self.first_ms, self.last_ms) {
            (Some(a), Some(b)) => format!(" from {} to {}", seconds(a), seconds(b)),
            _ => String::new(),
        };
        writeln!(
            f,
            "{} requests{span}, {} {}: {} admitted ({}), {} denied",
            group(self.requests),
            group(self.keys.len() as u64),
            if self.keys.len() == 1 { "key" } else { "keys" },
            group(self.admitted),
            percent(self.admitted, self.requests),
            group(self.denied),
        )?;
        writeln!(f)?;
        let tiers = self.limits.iter().any(|l| l.tier != self.limits[0].tier);
        let mut rows = vec![[
            String::from("limit"),
            String::from("algorithm"),
            String::from("allows"),
            String::from("denied"),
            String::from("most admitted"),
            String::from("busiest (key at s)"),
        ]];
        for l in &self.limits {
            let name = if tiers {
                format!("{}/{}", l.tier, l.name)
            } else {
                l.name.clone()
            };
            let (allows, most) = match l.allowance {
                Allowance::PerWindow { count, window } => (
                    format!(
                        "{} per {}",
                        group(u64::from(count)),
                        format_duration(window)
                    ),
                    format!("{} in a {} window", group(l.most), format_duration(window)),
                ),
                Allowance::InFlight { count } => (
                    format!("{} in flight", group(u64::from(count))),
                    format!("{} at once", group(l.most)),
                ),
                Allowance::Unlimited => (String::from("unlimited"), String::from("-")),
            };
            let busiest = match &l.most_key {
                Some(k) if l.most > 0 => format!(
                    "{} at {}",
                    if k.is_empty() { "(shared)" } else { k },
                    seconds(l.most_at_ms)
                ),
                _ => String::from("-"),
            };
            rows.push([
                name,
                l.algorithm.to_string(),
                allows,
                group(l.denied),
                most,
                busiest,
            ]);
        }
        table(f, &rows, &[false, false, false, true, false, false])?;
        writeln!(f)?;

        let mut rows = vec![[
            String::from("key"),
            String::from("tier"),
            String::from("requests"),
            String::from("admitted"),
            String::from("denied"),
            String::new(),
        ]];
        for k in self.keys.iter().take(KEYS_SHOWN) {
            rows.push([
                k.key.clone().unwrap_or_else(|| String::from("(shared)")),
                k.tier.clone(),
                group(k.requests),
                group(k.admitted),
                group(k.denied),
                String::new(),
            ]);
        }
        if self.keys.len() > KEYS_SHOWN {
            let rest = &self.keys[KEYS_SHOWN..];
            rows.push([
                format!("… {} more keys", group(rest.len() as u64)),
                String::new(),
                group(rest.iter().map(|k| k.requests).sum()),
                group(rest.iter().map(|k| k.admitted).sum()),
                group(rest.iter().map(|k| k.denied).sum()),
                String::new(),
            ]);
        }
        table(f, &rows, &[false, false, true, true, true, false])
    }
}

/// Writes rows as columns padded to their widest cell (numbers right-aligned).
fn table(f: &mut fmt::Formatter<'_>, rows: &[[String; 6]], right: &[bool; 6]) -> fmt::Result {
    let mut widths = [0usize; 6];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if widths[i] == 0 {
                continue;
            }
            let pad = widths[i] - cell.chars().count();
            if i > 0 {
                line.push_str("  ");
            }
            if right[i] {
                line.extend(core::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(core::iter::repeat_n(' ', pad));
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `1234567` as `1,234,567`.
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds as seconds with one decimal.
fn seconds(ms: u64) -> String {
    format!("{}.{} s", group(ms / 1_000), (ms % 1_000) / 100)
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return String::from("-");
    }
    let tenths = (u128::from(part) * 1_000 + u128::from(whole) / 2) / u128::from(whole);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_000), "1,000");
        assert_eq!(group(10_000_000), "10,000,000");
        assert_eq!(seconds(90_050), "90.0 s");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(0, 0), "-");
    }
}
