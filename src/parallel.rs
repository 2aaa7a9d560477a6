//! One thread per host: every multi-host command runs its per-host work through [`each`], so
//! a slow host delays only its own result and the results come back in host order.

/// Runs `work` on every item at once, one scoped thread each, and returns the results in the
/// items' order. A panic in one thread is a bug and propagates.
pub fn each<T, R, F>(items: impl IntoIterator<Item = T>, work: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || work(item)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a host thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Condvar, Mutex};
    use std::time::Duration;

    use super::*;

    #[test]
    fn results_come_back_in_item_order_whatever_finishes_first() {
        let delays = [30u64, 0, 10];
        let out = each(delays, |ms| {
            std::thread::sleep(Duration::from_millis(ms));
            ms * 2
        });
        assert_eq!(out, [60, 0, 20]);
    }

    #[test]
    fn items_run_at_the_same_time() {
        // Each waits (bounded) until all four have started: only true when they run at once.
        let arrived = (Mutex::new(0), Condvar::new());
        let all_met = each(0..4, |_| {
            let (count, cv) = &arrived;
            let mut n = count.lock().unwrap();
            *n += 1;
            cv.notify_all();
            let (n, timeout) = cv
                .wait_timeout_while(n, Duration::from_secs(10), |n| *n < 4)
                .unwrap();
            *n == 4 && !timeout.timed_out()
        });
        assert_eq!(all_met, [true; 4]);
    }

    #[test]
    fn mutable_items_are_each_handed_to_one_thread() {
        let mut counters = vec![0u32; 3];
        each(counters.iter_mut(), |c| *c += 1);
        assert_eq!(counters, [1, 1, 1]);
    }
}
