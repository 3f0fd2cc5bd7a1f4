//! Least request, as Envoy does it with equal weights: draw two different hosts
//! at random and take the one with fewer requests in flight (power of two
//! choices). In-flight counts are this worker's own, so no count is shared
//! between cores. With unequal weights the two draws are weighted and the
//! comparison is `(active + 1) / weight`.

use super::{random::WeightedRandom, Candidate, Rng};

#[derive(Debug, Clone)]
pub struct LeastRequest {
    rng: Rng,
    weights: Vec<u32>,
    /// Set when weights differ: draws follow weight.
    weighted: Option<WeightedRandom>,
}

impl LeastRequest {
    pub fn new(seed: u64) -> Self {
        LeastRequest {
            rng: Rng::new(seed),
            weights: Vec::new(),
            weighted: None,
        }
    }

    pub fn rebuild(&mut self, candidates: &[Candidate]) {
        self.weights.clear();
        self.weights
            .extend(candidates.iter().map(|c| c.weight.max(1)));
        let equal = self.weights.windows(2).all(|w| w[0] == w[1]);
        self.weighted = if equal {
            None
        } else {
            let mut w = WeightedRandom::new(self.rng.next_u64());
            w.rebuild(candidates);
            Some(w)
        };
    }

    pub fn pick(&mut self, active: impl Fn(usize) -> u32) -> Option<usize> {
        let n = self.weights.len();
        match n {
            0 => return None,
            1 => return Some(0),
            _ => {}
        }
        let (a, b) = match &mut self.weighted {
            None => {
                let a = self.rng.below(n as u64) as usize;
                // A second, different host: an offset of 1..n from the first.
                let b = (a + 1 + self.rng.below(n as u64 - 1) as usize) % n;
                (a, b)
            }
            Some(w) => {
                let a = w.pick()?;
                let mut b = w.pick()?;
                if b == a {
                    b = (a + 1 + self.rng.below(n as u64 - 1) as usize) % n;
                }
                (a, b)
            }
        };
        // Fewer in flight per unit of weight wins; ties go to the first draw.
        let cost =
            |i: usize, other: usize| (u64::from(active(i)) + 1) * u64::from(self.weights[other]);
        Some(if cost(b, a) < cost(a, b) { b } else { a })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::test_candidates as cands;

    #[test]
    fn prefers_the_idle_host() {
        let mut lr = LeastRequest::new(3);
        lr.rebuild(&cands(&[1, 1]));
        // Host 0 is busy: with two hosts both are always drawn, so 1 always wins.
        for _ in 0..1000 {
            assert_eq!(lr.pick(|i| if i == 0 { 5 } else { 0 }), Some(1));
        }
        // Among three, the busiest host is never chosen (it loses every pair).
        lr.rebuild(&cands(&[1, 1, 1]));
        let mut counts = [0; 3];
        for _ in 0..3000 {
            counts[lr.pick(|i| [9, 0, 1][i]).unwrap()] += 1;
        }
        assert_eq!(counts[0], 0, "{counts:?}");
        assert!(counts[1] > counts[2], "{counts:?}");
    }

    #[test]
    fn idle_hosts_share_evenly_and_weights_count() {
        let mut lr = LeastRequest::new(11);
        lr.rebuild(&cands(&[1, 1, 1, 1]));
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[lr.pick(|_| 0).unwrap()] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );

        // Weight 3 vs 1, equally loaded: the heavy host takes most of the picks.
        lr.rebuild(&cands(&[3, 1]));
        let mut counts = [0u32; 2];
        for _ in 0..10_000 {
            counts[lr.pick(|_| 1).unwrap()] += 1;
        }
        assert!(counts[0] > 2 * counts[1], "{counts:?}");
        assert_eq!(LeastRequest::new(1).pick(|_| 0), None);
    }
}
