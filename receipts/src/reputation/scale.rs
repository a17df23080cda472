//! The fixed log scale of value brackets.
//!
//! Bracket `0` is "any value"; bracket `k ≥ 1` is "at least `10^(k−1)` atomic units".
//! A proof discloses, per issuer, one bracket index: the highest whose floor the sum
//! of that issuer's receipt values reaches. Decades are coarse on purpose: a verifier
//! learns the order of magnitude of the value a persona created, never the amount.

/// The ratio between consecutive bracket floors.
pub const BRACKET_BASE: u64 = 10;
/// Number of brackets: `0..BRACKETS`. The top floor, `10^19`, is the largest power
/// of ten below `2^64`.
pub const BRACKETS: u32 = 21;

const _: () = assert!(BRACKET_BASE.checked_pow(BRACKETS - 2).is_some());
const _: () = assert!(BRACKET_BASE.checked_pow(BRACKETS - 1).is_none());

/// The floor of `bracket` in atomic units, or `None` past the scale.
///
/// # Example
/// ```
/// use attn_receipts::reputation::bracket_floor;
/// assert_eq!(bracket_floor(0), Some(0));
/// assert_eq!(bracket_floor(1), Some(1));
/// assert_eq!(bracket_floor(4), Some(1_000));
/// assert_eq!(bracket_floor(21), None);
/// ```
pub const fn bracket_floor(bracket: u32) -> Option<u64> {
    if bracket == 0 {
        Some(0)
    } else if bracket < BRACKETS {
        BRACKET_BASE.checked_pow(bracket - 1)
    } else {
        None
    }
}

/// The highest bracket whose floor `value_atomic` reaches.
///
/// # Example
/// ```
/// use attn_receipts::reputation::bracket_of;
/// assert_eq!(bracket_of(0), 0);
/// assert_eq!(bracket_of(1), 1);
/// assert_eq!(bracket_of(999), 3);
/// assert_eq!(bracket_of(1_000), 4);
/// ```
pub fn bracket_of(value_atomic: u128) -> u32 {
    let mut bracket = 0;
    while let Some(floor) = bracket_floor(bracket + 1) {
        if u128::from(floor) > value_atomic {
            break;
        }
        bracket += 1;
    }
    bracket
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_is_increasing_and_every_value_has_its_highest_bracket() {
        for bracket in 1..BRACKETS {
            let (Some(low), Some(high)) = (bracket_floor(bracket - 1), bracket_floor(bracket))
            else {
                panic!("bracket {bracket} is on the scale");
            };
            assert!(low < high);
            assert_eq!(bracket_of(u128::from(high)), bracket);
            assert_eq!(bracket_of(u128::from(high) - 1), bracket - 1);
        }
        assert_eq!(bracket_of(u128::MAX), BRACKETS - 1);
        assert_eq!(bracket_floor(BRACKETS), None);
    }
}
