//! Small statistics over timed samples: medians, and ratios to a floor.

use std::time::Duration;

/// The median of `samples` (the mean of the middle two for an even count); `None` if empty.
pub(crate) fn median(samples: &[Duration]) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2
    })
}

/// The `p`th quantile of `samples` (`0.0..=1.0`, nearest rank); `None` if empty.
pub(crate) fn quantile(samples: &[Duration], p: f64) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let last = sorted.len().checked_sub(1)?;
    let rank = (p.clamp(0.0, 1.0) * last as f64).round() as usize;
    sorted.get(rank).copied()
}

/// `value / floor`, or `None` when either is missing or the floor is zero.
pub(crate) fn ratio(value: Option<Duration>, floor: Option<Duration>) -> Option<f64> {
    let (v, f) = (value?, floor?);
    (!f.is_zero()).then(|| v.as_secs_f64() / f.as_secs_f64())
}

/// A duration as milliseconds with no decimals, or `—` when missing.
pub(crate) fn ms(d: Option<Duration>) -> String {
    d.map_or_else(|| "—".to_owned(), |d| format!("{} ms", d.as_millis()))
}

/// A ratio as `1.07×`, or `—` when missing.
pub(crate) fn times(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}×"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[ms_(5), ms_(1), ms_(3)]), Some(ms_(3)));
        assert_eq!(
            median(&[ms_(4), ms_(1), ms_(2), ms_(3)]),
            Some(ms_(2) + ms_(1) / 2)
        );
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let s: Vec<Duration> = (1..=11).map(ms_).collect();
        assert_eq!(quantile(&s, 0.9), Some(ms_(10)));
        assert_eq!(quantile(&s, 1.0), Some(ms_(11)));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn ratio_and_formatting() {
        let r = ratio(Some(ms_(1150)), Some(ms_(1000)));
        assert_eq!(times(r), "1.15×");
        assert_eq!(times(ratio(Some(ms_(1)), Some(Duration::ZERO))), "—");
        assert_eq!(ms(Some(ms_(42))), "42 ms");
        assert_eq!(ms(None), "—");
    }
}
