//! Seeded draws for the generative suites: the seed is printed, and a run
//! is replayed by setting it again.

/// SplitMix64: small, seedable, good enough to draw test cases.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())].clone()
    }

    /// `min..=max` distinct items, each drawn with its weight.
    pub fn subset<T: Copy + PartialEq>(
        &mut self,
        items: &[(T, usize)],
        min: usize,
        max: usize,
    ) -> Vec<T> {
        let want = (min + self.below(max - min + 1)).min(items.len());
        let mut chosen: Vec<T> = vec![];
        while chosen.len() < want {
            let left: Vec<(T, usize)> = items
                .iter()
                .copied()
                .filter(|(i, _)| !chosen.contains(i))
                .collect();
            let total: usize = left.iter().map(|(_, w)| w).sum();
            let mut at = self.below(total);
            for (item, weight) in left {
                if at < weight {
                    chosen.push(item);
                    break;
                }
                at -= weight;
            }
        }
        chosen
    }
}

/// The seed named by environment variable `var`, or one from the clock.
pub fn seed_from(var: &str) -> u64 {
    match std::env::var(var) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|_| panic!("{var} is a number, not {s:?}")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    }
}
