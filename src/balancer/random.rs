//! Random choice, weighted by host weight: a draw in `0..total` and a binary
//! search of the cumulative weights built at rebuild time.

use super::{Candidate, Rng};

#[derive(Debug, Clone)]
pub struct WeightedRandom {
    rng: Rng,
    /// `cumulative[i]` = sum of weights of candidates `0..=i`.
    cumulative: Vec<u64>,
}

impl WeightedRandom {
    pub fn new(seed: u64) -> Self {
        WeightedRandom {
            rng: Rng::new(seed),
            cumulative: Vec::new(),
        }
    }

    pub fn rebuild(&mut self, candidates: &[Candidate]) {
        self.cumulative.clear();
        let mut sum = 0u64;
        for c in candidates {
            sum += u64::from(c.weight.max(1));
            self.cumulative.push(sum);
        }
    }

    pub fn pick(&mut self) -> Option<usize> {
        let total = *self.cumulative.last()?;
        let r = self.rng.below(total);
        Some(self.cumulative.partition_point(|&c| c <= r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_by_weight() {
        let cands: Vec<Candidate> = [1u32, 1, 2]
            .iter()
            .enumerate()
            .map(|(i, &weight)| Candidate {
                addr: format!("127.0.0.{}:80", i + 2).parse().unwrap(),
                weight,
            })
            .collect();
        let mut r = WeightedRandom::new(7);
        r.rebuild(&cands);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[r.pick().unwrap()] += 1;
        }
        // Expected 10k / 10k / 20k; a fixed seed makes this deterministic.
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
        assert!((9_000..11_000).contains(&counts[1]), "{counts:?}");
        assert!((18_500..21_500).contains(&counts[2]), "{counts:?}");
        r.rebuild(&[]);
        assert_eq!(r.pick(), None);
    }
}
