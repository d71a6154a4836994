//! The simulation over time, and its picture: admitted and denied requests, and each limit's
//! window occupancy against its limit, one panel per limit.

use plotters::prelude::*;
use tollgate_core::Allowance;

use crate::config::format_duration;

/// The most buckets a series keeps: when the trace outgrows them, neighbours merge and the
/// bucket width doubles, so a series of any trace stays this small.
pub const BUCKETS: usize = 512;

/// Admissions, denials and occupancy per time bucket.
#[derive(Debug, Clone)]
pub struct Series {
    start_ms: Option<u64>,
    width_ms: u64,
    admitted: Vec<u64>,
    denied: Vec<u64>,
    /// Per limit (flat, in the summary's order): the highest occupancy any request found (with
    /// itself, if admitted) in each bucket, `None` where no request of the limit's tier came.
    occupancy: Vec<Vec<Option<u64>>>,
    limits: Vec<(String, Allowance<{ crate::HZ }>)>,
}

impl Series {
    /// A series for these limits: each one's label in the plot and what it allows.
    pub(super) fn new(limits: Vec<(String, Allowance<{ crate::HZ }>)>) -> Self {
        Self {
            start_ms: None,
            width_ms: 1,
            admitted: Vec::new(),
            denied: Vec::new(),
            occupancy: vec![Vec::new(); limits.len()],
            limits,
        }
    }

    /// The bucket of `t_ms`, merging buckets until it fits.
    fn bucket(&mut self, t_ms: u64) -> usize {
        let start = *self.start_ms.get_or_insert(t_ms);
        let offset = t_ms.saturating_sub(start);
        while offset / self.width_ms >= BUCKETS as u64 {
            self.merge();
        }
        let i = usize::try_from(offset / self.width_ms).unwrap_or(BUCKETS - 1);
        if self.admitted.len() <= i {
            self.admitted.resize(i + 1, 0);
            self.denied.resize(i + 1, 0);
        }
        i
    }

    /// Halves the buckets: each pair becomes one twice as wide.
    fn merge(&mut self) {
        fn pairs<T: Copy>(v: &[T], f: impl Fn(T, T) -> T) -> Vec<T> {
            v.chunks(2)
                .map(|c| if c.len() == 2 { f(c[0], c[1]) } else { c[0] })
                .collect()
        }
        self.width_ms *= 2;
        self.admitted = pairs(&self.admitted, |a, b| a + b);
        self.denied = pairs(&self.denied, |a, b| a + b);
        for o in &mut self.occupancy {
            *o = pairs(o, |a, b| a.max(b));
        }
    }

    /// Counts a request at `t_ms`; its bucket, for [`occupy`](Self::occupy) at the same time.
    pub(super) fn count(&mut self, t_ms: u64, allowed: bool) -> usize {
        let i = self.bucket(t_ms);
        if allowed {
            self.admitted[i] += 1;
        } else {
            self.denied[i] += 1;
        }
        i
    }

    /// Notes an occupancy of `limit` in bucket `i`, which [`count`](Self::count) just gave.
    pub(super) fn occupy(&mut self, i: usize, limit: usize, occupancy: u64) {
        let o = &mut self.occupancy[limit];
        if o.len() <= i {
            o.resize(i + 1, None);
        }
        o[i] = o[i].max(Some(occupancy));
    }

    /// The bucket width in milliseconds.
    pub const fn width_ms(&self) -> u64 {
        self.width_ms
    }

    /// Requests admitted per bucket.
    pub fn admitted(&self) -> &[u64] {
        &self.admitted
    }

    /// Requests denied per bucket.
    pub fn denied(&self) -> &[u64] {
        &self.denied
    }

    /// The `limit`-th limit's highest occupancy seen by a request, per bucket.
    pub fn occupancy(&self, limit: usize) -> &[Option<u64>] {
        self.occupancy.get(limit).map_or(&[], Vec::as_slice)
    }
}

/// Why a plot could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotError(String);

impl core::fmt::Display for PlotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "cannot draw the plot: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError(e.to_string())
}

const ADMITTED: RGBColor = RGBColor(0x1b, 0x9e, 0x77);
const DENIED: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
const OCCUPANCY: RGBColor = RGBColor(0x29, 0x62, 0xa8);
const LIMIT: RGBColor = RGBColor(0xc0, 0x1c, 0x28);

/// Draws `series` as SVG text: a panel of admitted and denied requests per bucket, then one
/// panel per limit (unlimited ones left out) of its occupancy against its limit.
///
/// # Errors
///
/// [`PlotError`] when plotters cannot lay the picture out.
pub fn plot_svg(series: &Series, title: &str) -> Result<String, PlotError> {
    let panels: Vec<usize> = (0..series.limits.len())
        .filter(|&i| !series.limits[i].1.is_unlimited())
        .collect();
    let mut svg = String::new();
    {
        let height = 260 + 200 * u32::try_from(panels.len()).unwrap_or(0);
        let root = SVGBackend::with_string(&mut svg, (1000, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, rest) = root.split_vertically(260);
        let width_s = series.width_ms as f64 / 1_000.0;
        let buckets = series.admitted.len().max(1);
        let end_s = buckets as f64 * width_s;
        let x = |i: usize| (i as f64 + 0.5) * width_s;

        let peak = series
            .admitted
            .iter()
            .zip(&series.denied)
            .map(|(a, d)| a.max(d))
            .max()
            .copied()
            .unwrap_or(0)
            .max(1);
        let mut chart = ChartBuilder::on(&top)
            .caption(
                format!("{title}: requests per {}", span(series.width_ms)),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end_s, 0..peak + peak / 10 + 1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("time (s)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("requests")
            .draw()
            .map_err(err)?;
        for (values, color, label) in [
            (&series.admitted, ADMITTED, "admitted"),
            (&series.denied, DENIED, "denied"),
        ] {
            chart
                .draw_series(LineSeries::new(
                    values.iter().enumerate().map(|(i, &v)| (x(i), v)),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;

        let areas = rest.split_evenly((panels.len().max(1), 1));
        for (&limit, area) in panels.iter().zip(&areas) {
            let (name, allowance) = &series.limits[limit];
            let count = u64::from(allowance.count().unwrap_or(0));
            let occupancy = series.occupancy(limit);
            let high = occupancy.iter().flatten().copied().max().unwrap_or(0);
            let top_y = count.max(high);
            let caption = match allowance {
                Allowance::PerWindow { count, window } => format!(
                    "{name}: admitted in the last {} as each request found it, busiest key (blue); limit {count} (red)",
                    format_duration(*window)
                ),
                Allowance::InFlight { count } => format!(
                    "{name}: in flight as each request found it, busiest key (blue); limit {count} (red)"
                ),
                Allowance::Unlimited => format!("{name}: unlimited"),
            };
            let mut chart = ChartBuilder::on(area)
                .caption(caption, ("sans-serif", 15))
                .margin(12)
                .x_label_area_size(32)
                .y_label_area_size(60)
                .build_cartesian_2d(0.0..end_s, 0..top_y + top_y / 8 + 1)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("time (s)")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_desc("occupancy")
                .draw()
                .map_err(err)?;
            // The limit first, so that occupancy reaching it is drawn over it.
            chart
                .draw_series(LineSeries::new(
                    [(0.0, count), (end_s, count)],
                    LIMIT.stroke_width(1),
                ))
                .map_err(err)?;
            // One line per run of buckets that saw requests: a quiet stretch is a gap, not a
            // slope the data never showed.
            let mut next = 0;
            for run in occupancy.chunk_by(|a, b| a.is_some() == b.is_some()) {
                let first = next;
                next += run.len();
                if run[0].is_none() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(
                        run.iter()
                            .enumerate()
                            .filter_map(|(i, v)| v.map(|v| (x(first + i), v))),
                        OCCUPANCY.stroke_width(2),
                    ))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A bucket width in words: `1 ms`, `250 ms`, `2 s`, `8.192 s`.
fn span(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1_000) {
        format!("{} s", ms / 1_000)
    } else {
        format!("{}.{:03} s", ms / 1_000, ms % 1_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_limit() -> Series {
        Series::new(vec![(
            String::from("minute"),
            Allowance::PerWindow {
                count: 3,
                window: crate::Duration::from_secs(60),
            },
        )])
    }

    #[test]
    fn buckets_merge_as_the_trace_grows_and_keep_every_count() {
        let mut s = one_limit();
        for t in 0..10_000u64 {
            let i = s.count(t, t % 3 != 0);
            s.occupy(i, 0, t % 7);
        }
        assert!(s.admitted().len() <= BUCKETS);
        assert_eq!(s.width_ms(), 32); // 10,000 ms in at most 512 buckets, widths doubling
        assert_eq!(s.admitted().iter().sum::<u64>(), 6_666);
        assert_eq!(s.denied().iter().sum::<u64>(), 3_334);
        assert!(s.occupancy(0).iter().all(|o| *o == Some(6)));
    }

    #[test]
    fn the_svg_has_a_panel_per_limit() {
        let mut s = one_limit();
        let i = s.count(0, true);
        s.occupy(i, 0, 1);
        s.count(1_000, false);
        let svg = plot_svg(&s, "test").unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("requests per 2 ms"), "{svg}");
        assert!(svg.contains("minute: admitted in the last 1m"), "{svg}");
        assert!(svg.contains("limit 3 (red)"));
    }
}
