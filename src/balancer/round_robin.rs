//! Round robin over the current host set. The cursor belongs to one worker; each
//! worker starts at a different offset so cores do not hit the same host in step.
//! With unequal weights, nginx's smooth weighted round robin: each host is picked
//! in proportion to its weight, interleaved rather than in bursts.

use super::Candidate;

#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    pub fn starting_at(offset: usize) -> Self {
        RoundRobin { next: offset }
    }

    pub fn offset(&self) -> usize {
        self.next
    }

    /// The index of the next host among `len`, or `None` when there are none.
    pub fn pick(&mut self, len: usize) -> Option<usize> {
        if len == 0 {
            return None;
        }
        let i = self.next % len;
        self.next = i + 1;
        Some(i)
    }
}

/// Smooth weighted round robin: every pick adds each host's weight to its
/// current score, takes the highest, and subtracts the total from the winner.
#[derive(Debug, Clone, Default)]
pub struct SmoothWeighted {
    weights: Vec<i64>,
    current: Vec<i64>,
    total: i64,
    picks: usize,
}

impl SmoothWeighted {
    pub fn rebuild(&mut self, candidates: &[Candidate], offset: usize) {
        self.weights.clear();
        self.weights
            .extend(candidates.iter().map(|c| i64::from(c.weight.max(1))));
        self.total = self.weights.iter().sum();
        self.current.clear();
        self.current.resize(self.weights.len(), 0);
        // Stagger workers: a different host leads the sequence on each core.
        if !self.current.is_empty() {
            let first = offset % self.current.len();
            self.current[first] = 1;
        }
        self.picks = offset;
    }

    pub fn offset(&self) -> usize {
        self.picks
    }

    pub fn pick(&mut self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for i in 0..self.weights.len() {
            self.current[i] += self.weights[i];
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let b = best?;
        self.current[b] -= self.total;
        self.picks = self.picks.wrapping_add(1);
        Some(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::test_candidates as cands;

    #[test]
    fn cycles_over_every_host() {
        let mut rr = RoundRobin::default();
        let picks: Vec<_> = (0..6).map(|_| rr.pick(3).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        assert_eq!(rr.pick(0), None);
        // A shrinking host set keeps the cursor in range.
        let mut rr = RoundRobin::starting_at(5);
        assert_eq!(rr.pick(2), Some(1));
        assert_eq!(rr.pick(2), Some(0));
    }

    #[test]
    fn smooth_weighted_respects_weights_and_interleaves() {
        let mut w = SmoothWeighted::default();
        w.rebuild(&cands(&[5, 1, 1]), 0);
        let picks: Vec<_> = (0..7).map(|_| w.pick().unwrap()).collect();
        // nginx's documented sequence for 5/1/1: a a b a c a a (one cycle of 7).
        let mut counts = [0; 3];
        for &p in &picks {
            counts[p] += 1;
        }
        assert_eq!(counts, [5, 1, 1]);
        // Never more than two of the heavy host in a row within the cycle's middle.
        assert!(picks.windows(4).all(|win| win.iter().any(|&p| p != 0)));
        // Over many cycles the ratio holds exactly.
        let mut counts = [0; 3];
        for _ in 0..700 {
            counts[w.pick().unwrap()] += 1;
        }
        assert_eq!(counts, [500, 100, 100]);
    }
}
