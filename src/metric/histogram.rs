//! Log-linear histograms: 16 linear sub-buckets per power of two, so any value
//! is reported within 1/16 (6.25 %) of itself. A worker records into its own
//! `Histogram` (one writer, plain loads and stores); the admin thread copies it
//! into a `HistogramSnapshot`, and snapshots from every worker merge by adding
//! bucket counts, which is what makes cross-core quantiles correct.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Sub-buckets per power of two, as a power of two.
const SUB_BITS: u32 = 4;
const SUB: usize = 1 << SUB_BITS;
/// Values at or above 2^MAX_BITS are clamped (2^40 µs is 12.7 days).
const MAX_BITS: u32 = 40;
pub const BUCKETS: usize = SUB + (MAX_BITS - SUB_BITS) as usize * SUB;

/// The bucket a value falls in.
pub fn bucket_of(v: u64) -> usize {
    let v = v.min((1u64 << MAX_BITS) - 1);
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros();
    let sub = ((v >> (e - SUB_BITS)) as usize) & (SUB - 1);
    SUB + (e - SUB_BITS) as usize * SUB + sub
}

/// The smallest value in bucket `b`.
pub fn lower_bound(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let e = (b - SUB) / SUB + SUB_BITS as usize;
    let sub = (b - SUB) % SUB;
    ((SUB + sub) as u64) << (e - SUB_BITS as usize)
}

/// One past the largest value in bucket `b`.
pub fn upper_bound(b: usize) -> u64 {
    if b + 1 >= BUCKETS {
        1u64 << MAX_BITS
    } else {
        lower_bound(b + 1)
    }
}

/// A worker's histogram. Written only by its worker.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Record one value. Single writer: load and store, no read-modify-write.
    pub fn record(&self, v: u64) {
        let b = &self.buckets[bucket_of(v)];
        b.store(b.load(Relaxed) + 1, Relaxed);
        self.count.store(self.count.load(Relaxed) + 1, Relaxed);
        self.sum
            .store(self.sum.load(Relaxed).saturating_add(v), Relaxed);
        if v > self.max.load(Relaxed) {
            self.max.store(v, Relaxed);
        }
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            buckets: self.buckets.iter().map(|b| b.load(Relaxed)).collect(),
            count: self.count.load(Relaxed),
            sum: self.sum.load(Relaxed),
            max: self.max.load(Relaxed),
        }
    }
}

/// A copy of one or more histograms (merged), owned by the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum: u64,
    pub max: u64,
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        HistogramSnapshot {
            buckets: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            max: 0,
        }
    }
}

impl HistogramSnapshot {
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }

    /// What was recorded since `base` (for `/reset_counters`). The maximum
    /// cannot be un-merged; it becomes the top of the highest non-empty bucket.
    pub fn since(&self, base: &HistogramSnapshot) -> HistogramSnapshot {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .zip(&base.buckets)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let max = match buckets.iter().rposition(|&c| c > 0) {
            Some(b) => (upper_bound(b) - 1).min(self.max),
            None => 0,
        };
        HistogramSnapshot {
            buckets,
            count: self.count.saturating_sub(base.count),
            sum: self.sum.saturating_sub(base.sum),
            max,
        }
    }

    /// The value at quantile `q` (0..=1): the largest value of the bucket that
    /// holds the rank, never above the largest value recorded. `None` if empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &c) in self.buckets.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some((upper_bound(b) - 1).min(self.max));
            }
        }
        Some(self.max)
    }

    /// How many values were below `le` for certain: buckets wholly at or under it.
    /// (A bucket that straddles `le` is counted in the next boundary up.)
    pub fn count_at_most(&self, le: u64) -> u64 {
        self.buckets
            .iter()
            .enumerate()
            .take_while(|(b, _)| upper_bound(*b) - 1 <= le)
            .map(|(_, c)| c)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        assert_eq!(lower_bound(0), 0);
        for b in 0..BUCKETS - 1 {
            assert_eq!(upper_bound(b), lower_bound(b + 1));
            assert!(lower_bound(b) < upper_bound(b));
            assert_eq!(bucket_of(lower_bound(b)), b);
            assert_eq!(bucket_of(upper_bound(b) - 1), b);
        }
        // Relative width of a bucket is at most 1/16.
        for b in SUB..BUCKETS {
            let width = upper_bound(b) - lower_bound(b);
            assert!(width * 16 <= lower_bound(b), "bucket {b}");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    fn within_one_bucket(got: u64, want: u64) {
        let (g, w) = (bucket_of(got) as i64, bucket_of(want) as i64);
        assert!((g - w).abs() <= 1, "got {got} want {want}");
    }

    #[test]
    fn quantiles_of_known_inputs_are_within_one_bucket() {
        let h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count, 10_000);
        assert_eq!(s.sum, 10_000 * 10_001 / 2);
        within_one_bucket(s.quantile(0.5).unwrap(), 5_000);
        within_one_bucket(s.quantile(0.9).unwrap(), 9_000);
        within_one_bucket(s.quantile(0.99).unwrap(), 9_900);
        within_one_bucket(s.quantile(0.999).unwrap(), 9_990);
        assert_eq!(s.quantile(1.0), Some(10_000));
        assert_eq!(s.max, 10_000);
        assert_eq!(HistogramSnapshot::default().quantile(0.5), None);
    }

    #[test]
    fn skewed_inputs_and_exact_small_values() {
        let h = Histogram::default();
        // 990 fast requests of 3 µs, 10 slow ones of 2 s.
        for _ in 0..990 {
            h.record(3);
        }
        for _ in 0..10 {
            h.record(2_000_000);
        }
        let s = h.snapshot();
        assert_eq!(s.quantile(0.5), Some(3));
        assert_eq!(s.quantile(0.99), Some(3));
        within_one_bucket(s.quantile(0.999).unwrap(), 2_000_000);
        assert_eq!(s.quantile(1.0), Some(2_000_000));
    }

    #[test]
    fn merging_workers_equals_recording_in_one() {
        let (a, b, all) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for v in 0..5_000u64 {
            let x = v * 37 % 100_003;
            if v % 3 == 0 { &a } else { &b }.record(x);
            all.record(x);
        }
        let mut merged = a.snapshot();
        merged.merge(&b.snapshot());
        assert_eq!(merged, all.snapshot());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(merged.quantile(q), all.snapshot().quantile(q));
        }
    }

    #[test]
    fn since_subtracts_a_baseline() {
        let h = Histogram::default();
        h.record(100);
        let base = h.snapshot();
        h.record(7);
        h.record(7);
        let d = h.snapshot().since(&base);
        assert_eq!(d.count, 2);
        assert_eq!(d.sum, 14);
        assert_eq!(d.quantile(1.0), Some(7));
        assert_eq!(d.count_at_most(6), 0);
        assert_eq!(d.count_at_most(7), 2);
    }
}
