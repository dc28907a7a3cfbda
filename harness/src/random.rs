//! The one random source: proptest's ChaCha generator, seeded from a run's 64-bit seed,
//! so that every random choice (the sequences, the kill moments, the benchmarks' keys)
//! comes back with the seed.

use proptest::prelude::Rng;
use proptest::test_runner::RngAlgorithm;
pub use proptest::test_runner::TestRng;

/// A generator that gives the same numbers for the same seed.
pub fn seeded(seed: u64) -> TestRng {
    let bytes: Vec<u8> = (0..4).flat_map(|_| seed.to_le_bytes()).collect();
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// A number in `0..n` (0 when `n` is 0).
pub fn below(rng: &mut TestRng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}
