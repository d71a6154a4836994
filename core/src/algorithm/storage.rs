//! Where a state whose size is chosen at run time keeps its elements.
//!
//! A [`SlidingLog`](crate::SlidingLog) holds one entry per admission in its window and a
//! [`SlidingWindow`](crate::SlidingWindow) one counter per bucket. How many is configuration:
//! fixed in the type on firmware (`SlidingLog<HZ, 50>`), read from a file on a server. Both kinds
//! run the same decision code over a slice of the state's elements, in the spirit of heapless's
//! `VecView`; only where the elements live differs, and that is a [`Storage`]:
//!
//! - [`Inline<N>`] keeps them in an array of `N` inside the state: no allocation, `Copy`, fit for
//!   a `static`. A configuration may use any capacity up to `N`.
//! - An adapter with an allocator provides a storage whose buffers are boxed slices of exactly the
//!   configured length (`tollgate-std` does).
//!
//! # Examples
//!
//! One sliding log configuration type for every capacity up to 64, chosen at run time:
//!
//! ```
//! use tollgate_core::algorithm::sliding_log::SlidingLogIn;
//! use tollgate_core::algorithm::storage::Inline;
//! use tollgate_core::{Algorithm, Duration, Instant};
//!
//! type Log = SlidingLogIn<1_000, u32, Inline<64>>;
//! let capacity_from_a_file = 10;
//! let log = Log::with_capacity(10, Duration::from_secs(1), capacity_from_a_file)?;
//! let mut state = log.new_state();
//! let now = Instant::<1_000>::from_ticks(0);
//! assert_eq!(log.check(&mut state, now, 10)?.remaining, 0);
//! assert!(Log::with_capacity(100, Duration::from_secs(1), 100).is_err()); // more than 64
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt::Debug;
use core::hash::Hash;

/// What a storage holds: small plain values.
pub trait Element: Copy + Default + Eq + Hash + Debug {}

impl<T: Copy + Default + Eq + Hash + Debug> Element for T {}

/// A kind of buffer for a state's elements: see the [module docs](self).
pub trait Storage {
    /// A buffer of `T`s.
    type Buf<T: Element>: AsRef<[T]> + AsMut<[T]> + Clone + Debug + PartialEq + Eq + Hash;

    /// Whether this storage can hold `len` elements.
    fn holds(len: usize) -> bool;

    /// A buffer of at least `len` elements (when [`holds`](Storage::holds) says it can), all
    /// `T::default()`.
    fn buffer<T: Element>(len: usize) -> Self::Buf<T>;
}

/// Elements kept inline, in an array of `N`: no allocation, and a state that is `Copy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Inline<const N: usize>;

impl<const N: usize> Storage for Inline<N> {
    type Buf<T: Element> = [T; N];

    fn holds(len: usize) -> bool {
        len <= N
    }

    fn buffer<T: Element>(_len: usize) -> [T; N] {
        [T::default(); N]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_storage_holds_up_to_its_length() {
        assert!(Inline::<4>::holds(0) && Inline::<4>::holds(4) && !Inline::<4>::holds(5));
        assert_eq!(Inline::<3>::buffer::<u32>(2), [0, 0, 0]);
    }
}
