//! Round robin over the current host set. The cursor belongs to one worker; each
//! worker starts at a different offset so cores do not hit the same host in step.

#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    pub fn starting_at(offset: usize) -> Self {
        RoundRobin { next: offset }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
