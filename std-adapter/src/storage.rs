//! Heap storage for the core's run-time sized states.

use tollgate_core::algorithm::storage::{Element, Storage};

/// Elements in a boxed slice of exactly the length a configuration asks for: the storage of
/// sliding logs and windows whose size is read from a file.
///
/// # Examples
///
/// ```
/// use tollgate_core::{Algorithm, Duration};
/// use tollgate_std::Limit;
///
/// let log = Limit::sliding_log(300, Duration::from_secs(60), 300)?;
/// let state = log.new_state(); // 300 stamps on the heap
/// # let _ = state;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Heap;

impl Storage for Heap {
    type Buf<T: Element> = Box<[T]>;

    fn holds(_len: usize) -> bool {
        true
    }

    fn buffer<T: Element>(len: usize) -> Box<[T]> {
        vec![T::default(); len].into_boxed_slice()
    }
}
