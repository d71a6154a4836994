//! Criterion timings of every case, tollgate's and governor's in one run.

use criterion::{Criterion, criterion_group, criterion_main};

fn decisions(c: &mut Criterion) {
    let mut group = c.benchmark_group("decision");
    for case in tollgate_bench::CASES {
        group.bench_function(case.name, |b| {
            // The case times its decision loop alone, without its warm-up.
            b.iter_custom(|iters| std::hint::black_box((case.run)(iters)).elapsed)
        });
    }
    group.finish();
}

criterion_group!(benches, decisions);
criterion_main!(benches);
