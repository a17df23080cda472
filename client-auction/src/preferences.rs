//! The user's preferences, applied to every verified bid before the mechanism: blocked
//! advertisers, blocked creative categories, a minimum price per unit for any slot,
//! and whether one advertiser may take several slots.
//!
//! Pure: [`Preferences::check`] says why a bid is dropped, the runtime counts the
//! reasons, and [`Preferences::rules`] hands the per-auction rule to the mechanism.
//! The minimum price also enters every slot's reserve (see
//! [`crate::mechanism::slot_specs`]), so a winner's price never falls below it.
//!
//! # Example
//! ```
//! use attn_client_auction::preferences::Preferences;
//! use attn_receipts::Money;
//!
//! let mut preferences = Preferences::default();
//! preferences.block_category("Gambling");
//! preferences.min_price_per_slot = Some(Money::parse("USD", "0.002")?);
//! assert!(preferences.blocks_category("gambling"));
//! preferences.validate()?;
//! # Ok::<(), attn_receipts::Error>(())
//! ```

use std::collections::HashSet;

use attn_receipts::limits::TAG_MAX_BYTES;
use attn_receipts::{Bid, Money, PublicKey};

use crate::mechanism::Rules;

/// Most advertisers a user may block.
pub const BLOCKED_ADVERTISERS_MAX: usize = 4_096;
/// Most creative categories a user may block.
pub const BLOCKED_CATEGORIES_MAX: usize = 256;

/// Why a bid was dropped before the mechanism.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[non_exhaustive]
pub enum DropReason {
    /// The user blocked the bid's advertiser.
    BlockedAdvertiser,
    /// The creative carries a category the user blocked.
    BlockedCategory,
    /// The price per unit is below the user's minimum.
    BelowMinimum,
    /// The price is not in the currency of the user's minimum.
    WrongCurrency,
}

impl DropReason {
    /// Every reason.
    pub const ALL: [DropReason; 4] = [
        Self::BlockedAdvertiser,
        Self::BlockedCategory,
        Self::BelowMinimum,
        Self::WrongCurrency,
    ];

    /// A short stable name for counters and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::BlockedAdvertiser => "blocked-advertiser",
            Self::BlockedCategory => "blocked-category",
            Self::BelowMinimum => "below-minimum",
            Self::WrongCurrency => "wrong-currency",
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the user accepts.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Preferences {
    /// Advertisers whose bids are dropped (at most [`BLOCKED_ADVERTISERS_MAX`]).
    pub blocked_advertisers: HashSet<PublicKey>,
    /// Creative categories whose bids are dropped, ASCII-lowercased (at most
    /// [`BLOCKED_CATEGORIES_MAX`]); add through [`Preferences::block_category`] so
    /// matching ignores ASCII case.
    pub blocked_categories: HashSet<String>,
    /// The lowest price per unit the user sells any slot for.
    pub min_price_per_slot: Option<Money>,
    /// At most one slot per advertiser (default `true`).
    pub one_slot_per_advertiser: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            blocked_advertisers: HashSet::new(),
            blocked_categories: HashSet::new(),
            min_price_per_slot: None,
            one_slot_per_advertiser: true,
        }
    }
}

impl Preferences {
    /// Blocks an advertiser.
    pub fn block_advertiser(&mut self, advertiser: PublicKey) {
        self.blocked_advertisers.insert(advertiser);
    }

    /// Blocks a creative category (ASCII case does not matter).
    pub fn block_category(&mut self, category: &str) {
        self.blocked_categories
            .insert(category.to_ascii_lowercase());
    }

    /// Whether `category` is blocked, ignoring ASCII case.
    pub fn blocks_category(&self, category: &str) -> bool {
        if category.len() > TAG_MAX_BYTES {
            // Validated bids never carry such a tag; compare the slow way.
            return self
                .blocked_categories
                .contains(&category.to_ascii_lowercase());
        }
        let mut buffer = [0u8; TAG_MAX_BYTES];
        let lower = &mut buffer[..category.len()];
        lower.copy_from_slice(category.as_bytes());
        lower.make_ascii_lowercase();
        // Lowercasing ASCII bytes of valid UTF-8 keeps it valid UTF-8.
        std::str::from_utf8(lower).is_ok_and(|lower| self.blocked_categories.contains(lower))
    }

    /// Checks the bounds of every list.
    ///
    /// # Errors
    /// [`attn_receipts::Error::TooLong`] naming the list over its limit.
    pub fn validate(&self) -> attn_receipts::Result<()> {
        let check = |field: &'static str, len: usize, max: usize| {
            if len > max {
                Err(attn_receipts::Error::TooLong {
                    message: "Preferences",
                    field,
                    len,
                    max,
                })
            } else {
                Ok(())
            }
        };
        check(
            "blocked_advertisers",
            self.blocked_advertisers.len(),
            BLOCKED_ADVERTISERS_MAX,
        )?;
        check(
            "blocked_categories",
            self.blocked_categories.len(),
            BLOCKED_CATEGORIES_MAX,
        )
    }

    /// Whether `bid` may enter the auction, and if not, the first reason it may not
    /// (checked in the order of [`DropReason::ALL`]).
    pub fn check(&self, bid: &Bid) -> Result<(), DropReason> {
        if self.blocked_advertisers.contains(&bid.advertiser) {
            return Err(DropReason::BlockedAdvertiser);
        }
        if !self.blocked_categories.is_empty()
            && bid
                .creative
                .categories
                .iter()
                .any(|category| self.blocks_category(category))
        {
            return Err(DropReason::BlockedCategory);
        }
        if let Some(minimum) = &self.min_price_per_slot {
            match bid.price.partial_cmp(minimum) {
                None => return Err(DropReason::WrongCurrency),
                Some(std::cmp::Ordering::Less) => return Err(DropReason::BelowMinimum),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// The rules the mechanism applies for this user.
    pub fn rules(&self) -> Rules {
        Rules {
            one_slot_per_advertiser: self.one_slot_per_advertiser,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attn_receipts::{AdvertiserKey, Creative, Digest32, RequestId};

    fn bid(advertiser: &AdvertiserKey, price: &str, categories: &[&str]) -> Bid {
        Bid {
            request_id: RequestId([1; 16]),
            advertiser: advertiser.public_key(),
            price: Money::parse("USD", price).expect("valid price"),
            slot_ids: vec![],
            creative: Creative {
                creative_id: "c1".into(),
                categories: categories.iter().map(|c| c.to_string()).collect(),
                content_hash: Digest32([0; 32]),
                url: None,
            },
            rail: "sandbox".into(),
            created_at_ms: 0,
        }
    }

    #[test]
    fn each_reason_drops_its_bids() {
        let alice = AdvertiserKey::from_secret_bytes(&[1; 32]);
        let bob = AdvertiserKey::from_secret_bytes(&[2; 32]);
        let mut preferences = Preferences::default();
        assert_eq!(preferences.check(&bid(&alice, "0", &["Gambling"])), Ok(()));
        preferences.block_advertiser(alice.public_key());
        preferences.block_category("GAMBLING");
        preferences.min_price_per_slot = Some(Money::parse("USD", "0.5").expect("valid"));
        assert_eq!(
            preferences.check(&bid(&alice, "1", &[])),
            Err(DropReason::BlockedAdvertiser)
        );
        assert_eq!(
            preferences.check(&bid(&bob, "1", &["sports", "gambling"])),
            Err(DropReason::BlockedCategory)
        );
        assert_eq!(
            preferences.check(&bid(&bob, "0.49", &["sports"])),
            Err(DropReason::BelowMinimum)
        );
        assert_eq!(preferences.check(&bid(&bob, "0.5", &["sports"])), Ok(()));
        let mut euro = bid(&bob, "1", &[]);
        euro.price = Money::parse("EUR", "1").expect("valid");
        assert_eq!(preferences.check(&euro), Err(DropReason::WrongCurrency));
    }

    #[test]
    fn rules_follow_the_preference() {
        let mut preferences = Preferences::default();
        assert!(preferences.rules().one_slot_per_advertiser);
        preferences.one_slot_per_advertiser = false;
        assert!(!preferences.rules().one_slot_per_advertiser);
    }

    #[test]
    fn lists_over_their_limits_are_refused() {
        let mut preferences = Preferences::default();
        for i in 0..BLOCKED_CATEGORIES_MAX {
            preferences.block_category(&format!("category-{i}"));
        }
        assert_eq!(preferences.validate(), Ok(()));
        preferences.block_category("one-too-many");
        assert!(matches!(
            preferences.validate(),
            Err(attn_receipts::Error::TooLong {
                field: "blocked_categories",
                len,
                max: BLOCKED_CATEGORIES_MAX,
                ..
            }) if len == BLOCKED_CATEGORIES_MAX + 1
        ));
        let mut preferences = Preferences::default();
        for i in 0..=BLOCKED_ADVERTISERS_MAX {
            let mut secret = [0u8; 32];
            secret[..8].copy_from_slice(&(i as u64).to_le_bytes());
            preferences.block_advertiser(AdvertiserKey::from_secret_bytes(&secret).public_key());
        }
        assert!(matches!(
            preferences.validate(),
            Err(attn_receipts::Error::TooLong {
                field: "blocked_advertisers",
                ..
            })
        ));
    }

    #[test]
    fn long_categories_are_still_matched() {
        let mut preferences = Preferences::default();
        let long = "X".repeat(TAG_MAX_BYTES + 1);
        preferences.block_category(&long);
        assert!(preferences.blocks_category(&long.to_ascii_lowercase()));
        assert!(!preferences.blocks_category("x"));
    }
}
