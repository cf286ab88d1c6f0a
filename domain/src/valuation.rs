//! The value a device is judged on against the 300 € ceiling of a free cession (décret
//! n° 2022-791, CG3P D3212-3 to D3212-5) when its net book value is unknown. The texts set no
//! valuation method (`docs/legal.md`), so the public body confirms one of two values: its net
//! book value, or the estimate of [`estimate`], from the device's category and age.
//!
//! The estimate (method in `docs/legal.md`, « Valeur retenue pour le plafond »):
//! - base: the device's acquisition value when known, otherwise a reference price of a new
//!   device of its category ([`reference_price_cents`], a platform assumption, not a legal text);
//! - straight-line depreciation of that base over the category's useful life
//!   ([`useful_life_months`]), counted in whole months from the acquisition date to the day of
//!   the valuation, down to zero at the end of the useful life;
//! - no estimate without an acquisition date, or without any base (an `other` device with no
//!   acquisition value): the body must then give the net book value.
//!
//! Pure: no clock, the caller gives the day.

use chrono::{Datelike, NaiveDate};

use crate::item::Category;

/// Reference price of a new device of `category`, tax included, in cents: the order of
/// magnitude of a professional model bought by a public body. A platform assumption (**open**
/// in `docs/legal.md`), used only when the acquisition value is unknown; `None` for devices too
/// varied to price (`other`).
pub fn reference_price_cents(category: Category) -> Option<i64> {
    match category {
        Category::Laptop => Some(90_000),
        Category::Desktop => Some(80_000),
        Category::AllInOne => Some(100_000),
        Category::Monitor => Some(20_000),
        Category::Tablet => Some(50_000),
        Category::Smartphone => Some(40_000),
        Category::Printer => Some(30_000),
        Category::MultifunctionPrinter => Some(150_000),
        Category::Projector => Some(70_000),
        Category::Network => Some(50_000),
        Category::Server => Some(400_000),
        Category::Peripheral => Some(5_000),
        Category::Other => None,
    }
}

/// Useful life of a device of `category`, in months: 5 years for computers, screens, printers,
/// projectors, network gear and servers (the usual depreciation period of IT equipment in the
/// M57 practice of local authorities), 3 years for tablets, smartphones and peripherals.
pub fn useful_life_months(category: Category) -> u32 {
    match category {
        Category::Tablet | Category::Smartphone | Category::Peripheral => 36,
        Category::Laptop
        | Category::Desktop
        | Category::AllInOne
        | Category::Monitor
        | Category::Printer
        | Category::MultifunctionPrinter
        | Category::Projector
        | Category::Network
        | Category::Server
        | Category::Other => 60,
    }
}

/// What the estimate was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// The device's recorded acquisition value.
    AcquisitionValue,
    /// The reference price of a new device of its category.
    ReferencePrice,
}

/// An estimated value, with what it was computed from, so that it can be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    pub cents: i64,
    pub base: Base,
    pub base_cents: i64,
    pub life_months: u32,
    /// Whole months from acquisition to the valuation day (0 for a date in the future).
    pub age_months: u32,
}

/// Whole months from `from` to `to` (0 when `to` is before `from`).
pub fn whole_months(from: NaiveDate, to: NaiveDate) -> u32 {
    if to <= from {
        return 0;
    }
    let months = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32;
    let months = if to.day() < from.day() {
        months - 1
    } else {
        months
    };
    months.max(0) as u32
}

/// Estimates the value of a device from its category and age (and its acquisition value when
/// known) on `today`; `None` when it cannot be estimated (see the module's method).
pub fn estimate(
    category: Category,
    acquisition_date: Option<NaiveDate>,
    acquisition_value_cents: Option<i64>,
    today: NaiveDate,
) -> Option<Estimate> {
    let acquired = acquisition_date?;
    let (base, base_cents) = match acquisition_value_cents.filter(|v| *v >= 0) {
        Some(v) => (Base::AcquisitionValue, v),
        None => (Base::ReferencePrice, reference_price_cents(category)?),
    };
    let life_months = useful_life_months(category);
    let age_months = whole_months(acquired, today);
    let left = i64::from(life_months.saturating_sub(age_months));
    // i128: a huge acquisition value times the months left must not overflow.
    let cents = (i128::from(base_cents) * i128::from(left) / i128::from(life_months)) as i64;
    Some(Estimate {
        cents,
        base,
        base_cents,
        life_months,
        age_months,
    })
}

impl Estimate {
    /// How the estimate was made, in French, for the documents.
    pub fn method_fr(&self) -> String {
        let base = match self.base {
            Base::AcquisitionValue => "valeur d'acquisition",
            Base::ReferencePrice => "prix de référence d'un équipement neuf de la catégorie",
        };
        format!(
            "estimation : {base} de {} amortie linéairement sur {} mois, {} mois écoulés depuis \
             l'acquisition",
            crate::eligibility::euros_fr(self.base_cents),
            self.life_months,
            self.age_months.min(self.life_months),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn months_are_counted_whole() {
        assert_eq!(whole_months(day(2024, 1, 31), day(2024, 2, 29)), 0);
        assert_eq!(whole_months(day(2024, 1, 15), day(2024, 2, 15)), 1);
        assert_eq!(whole_months(day(2020, 6, 1), day(2026, 12, 1)), 78);
        assert_eq!(whole_months(day(2027, 1, 1), day(2026, 12, 1)), 0);
    }

    #[test]
    fn a_new_laptop_is_worth_its_reference_price_and_nothing_after_five_years() {
        let today = day(2026, 12, 1);
        let new = estimate(Category::Laptop, Some(today), None, today).expect("estimate");
        assert_eq!(new.cents, 90_000);
        assert_eq!(new.base, Base::ReferencePrice);
        let half = estimate(Category::Laptop, Some(day(2024, 6, 1)), None, today).expect("e");
        assert_eq!(half.age_months, 30);
        assert_eq!(half.cents, 45_000);
        let old = estimate(Category::Laptop, Some(day(2021, 11, 1)), None, today).expect("e");
        assert_eq!(old.cents, 0);
    }

    #[test]
    fn the_acquisition_value_is_the_base_when_known() {
        let today = day(2026, 12, 1);
        let e = estimate(
            Category::Desktop,
            Some(day(2023, 12, 1)),
            Some(60_000),
            today,
        )
        .expect("estimate");
        assert_eq!(e.base, Base::AcquisitionValue);
        assert_eq!(e.age_months, 36);
        assert_eq!(e.cents, 24_000);
        assert!(
            e.method_fr().contains("valeur d'acquisition de 600 €"),
            "{}",
            e.method_fr()
        );
        assert!(e.method_fr().contains("60 mois, 36 mois écoulés"));
    }

    #[test]
    fn without_a_date_or_a_base_there_is_no_estimate() {
        let today = day(2026, 12, 1);
        assert_eq!(estimate(Category::Laptop, None, Some(50_000), today), None);
        assert_eq!(
            estimate(Category::Other, Some(day(2024, 1, 1)), None, today),
            None
        );
        assert!(estimate(Category::Other, Some(day(2024, 1, 1)), Some(10_000), today).is_some());
    }

    #[test]
    fn every_category_has_a_useful_life() {
        for c in Category::ALL {
            assert!(useful_life_months(c) >= 12, "{c:?}");
            if c != Category::Other {
                assert!(reference_price_cents(c).is_some_and(|p| p > 0), "{c:?}");
            }
        }
    }

    proptest! {
        /// An estimate lies between zero and its base, and never grows as the device ages.
        #[test]
        fn estimates_fall_with_age_and_stay_within_the_base(
            c in 0..Category::ALL.len(),
            value in prop::option::of(0i64..10_000_000_000),
            acquired_days in 0i64..8_000,
            later_days in 0i64..2_000,
        ) {
            let category = Category::ALL[c];
            let today = day(2026, 12, 1);
            let acquired = today - chrono::Duration::days(acquired_days);
            let now = estimate(category, Some(acquired), value, today);
            let later = estimate(
                category,
                Some(acquired),
                value,
                today + chrono::Duration::days(later_days),
            );
            match (now, later) {
                (Some(now), Some(later)) => {
                    prop_assert!(now.cents >= 0 && now.cents <= now.base_cents);
                    prop_assert!(later.cents <= now.cents);
                    if let Some(v) = value {
                        prop_assert_eq!(now.base_cents, v);
                    }
                }
                (None, None) => prop_assert!(value.is_none() && category == Category::Other),
                _ => prop_assert!(false, "an estimate depends on the day only through the age"),
            }
        }
    }
}
