//! A parallel map over indices with per-thread state, results in index order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::Result;

/// Computes `f(&mut state, i)` for `i in 0..n` on `threads` scoped threads (each with its own
/// `init()` state) and returns the results in index order, so the output does not depend on the
/// thread count. Calls `progress()` after each item. The first error stops the remaining work.
pub fn par_map<T, S>(
    n: usize,
    threads: usize,
    init: impl Fn() -> Result<S> + Sync,
    f: impl Fn(&mut S, usize) -> Result<T> + Sync,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<T>>
where
    T: Send,
{
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(None);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            scope.spawn(|| {
                let mut state = match init() {
                    Ok(s) => s,
                    Err(e) => {
                        failed.lock().expect("lock").get_or_insert(e);
                        next.store(n, Ordering::SeqCst);
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        return;
                    }
                    match f(&mut state, i) {
                        Ok(v) => results.lock().expect("lock")[i] = Some(v),
                        Err(e) => {
                            failed.lock().expect("lock").get_or_insert(e);
                            next.store(n, Ordering::SeqCst);
                            return;
                        }
                    }
                    progress();
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().expect("lock") {
        return Err(e);
    }
    Ok(results.into_inner().expect("lock").into_iter().map(|v| v.expect("every item computed")).collect())
}

/// Number of worker threads: `requested`, or all cores.
pub fn threads(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
}
