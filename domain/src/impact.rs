//! Impact and compliance reporting: CO2e avoided and kilograms re-used or recycled from a
//! versioned set of factors, the legal re-use rate of décret n° 2023-266, and the INSEE regions
//! that reports group by. Pure: the caller gathers the rows; every figure says how it was made.
//!
//! Figures and rules come from `docs/legal.md` (the re-use rate of décret n° 2023-266, and the factor tables).
//! Where it gives no figure, none is invented: the category has `None` and the reports count the
//! items that could not be valued instead of guessing.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::item::Category;
use crate::lifecycle::over_ten_years;

/// The identifier of the rules of [`compute_totals`], carried by every [`Totals`]. Change it when
/// those rules change, so that a stored figure can always be traced to how it was computed.
pub const IMPACT_METHOD: &str = "reemploi-impact-v1";

/// The identifier of the rules of [`reuse_rate`], carried by every [`ReuseRate`].
pub const REUSE_RATE_METHOD: &str = "reemploi-reuse-rate-v1";

// ---------------------------------------------------------------------------------------------
// Factor sets
// ---------------------------------------------------------------------------------------------

/// A versioned set of impact factors, one per category. Reports name the version they used, so a
/// new set never silently changes an old figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorSet {
    pub version: String,
    pub published_on: NaiveDate,
    pub factors: Vec<Factor>,
}

/// The impact figures of one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Factor {
    pub category: Category,
    /// Manufacturing + distribution of one new device, kg CO2e: what re-using a device instead of
    /// buying a new one avoids. `None`: no confirmed figure.
    pub co2e_kg: Option<f64>,
    /// Average weight of one device, kg. `None`: no confirmed figure.
    pub weight_kg: Option<f64>,
    /// Where the figures come from (or why there are none), as printed under a report.
    pub source: String,
}

impl FactorSet {
    /// The factor of `category`: the first one if the set (invalidly) has several.
    pub fn factor(&self, category: Category) -> Option<&Factor> {
        self.factors.iter().find(|f| f.category == category)
    }

    /// Every problem of the set, in English for the operator who maintains it: a blank version,
    /// a category listed twice, a figure that is negative or not finite, a blank source.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.version.trim().is_empty() {
            problems.push("version: must not be blank".to_owned());
        }
        for (i, factor) in self.factors.iter().enumerate() {
            let name = factor.category.as_str();
            if self.factors[..i]
                .iter()
                .any(|earlier| earlier.category == factor.category)
            {
                problems.push(format!("factors[{i}] ({name}): category listed twice"));
            }
            for (field, value) in [("co2e_kg", factor.co2e_kg), ("weight_kg", factor.weight_kg)] {
                if let Some(v) = value
                    && !(v.is_finite() && v >= 0.0)
                {
                    problems.push(format!(
                        "factors[{i}] ({name}): {field} must be a finite number ≥ 0, got {v}"
                    ));
                }
            }
            if factor.source.trim().is_empty() {
                problems.push(format!("factors[{i}] ({name}): source must not be blank"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// The version of [`default_factor_set`].
pub const DEFAULT_FACTOR_SET_VERSION: &str = "ademe-arcep-2022.1";

/// The day the ADEME–Arcep study behind the CO2e figures was published (arcep.fr, 19/01/2022).
const DEFAULT_FACTOR_SET_PUBLISHED_ON: NaiveDate = match NaiveDate::from_ymd_opt(2022, 1, 19) {
    Some(day) => day,
    None => panic!("invalid publication date"),
};

const ADEME_SOURCE: &str = "ADEME Impact CO2, étude ADEME–Arcep 2022 \
    (incubateur-ademe/impactco2 numerique.json @00ff7a2)";
const UNU_SOURCE: &str = "UNU 2012 average weights (Statistics-Netherlands/ewaste)";

/// A CO2e figure as published: the row of the ADEME table and its two terms.
struct Co2eRow {
    row: &'static str,
    manufacturing: f64,
    distribution: f64,
}

/// A weight as published: the row of the UNU table and its value.
struct WeightRow {
    row: &'static str,
    kg: f64,
}

struct DefaultFactor {
    category: Category,
    co2e: Option<Co2eRow>,
    weight: Option<WeightRow>,
}

/// The factor tables of `docs/legal.md`, and nothing else. One row per category, so that "no figure" is a
/// decision written here rather than an omission.
const DEFAULT_FACTORS: [DefaultFactor; 13] = [
    DefaultFactor {
        category: Category::Laptop,
        co2e: Some(Co2eRow {
            row: "Laptop",
            manufacturing: 170.3,
            distribution: 12.3,
        }),
        weight: Some(WeightRow {
            row: "Laptop or tablet",
            kg: 1.59,
        }),
    },
    // Our desktops are central units; a screen given with one is its own `Monitor` item, so the
    // "no screen" row fits.
    DefaultFactor {
        category: Category::Desktop,
        co2e: Some(Co2eRow {
            row: "Desktop, professional, no screen",
            manufacturing: 202.6,
            distribution: 1.8,
        }),
        weight: Some(WeightRow {
            row: "Desktop PC",
            kg: 8.77,
        }),
    },
    // Neither a desktop without screen nor a screen; adding the two rows would be a figure of our
    // own, and the UNU table has no all-in-one row.
    DefaultFactor {
        category: Category::AllInOne,
        co2e: None,
        weight: None,
    },
    // The only screen in the ADEME table is a 24" one; it stands for every monitor (the usual
    // office size), which over- or under-states other sizes.
    DefaultFactor {
        category: Category::Monitor,
        co2e: Some(Co2eRow {
            row: "24\" screen",
            manufacturing: 64.6,
            distribution: 1.3,
        }),
        weight: Some(WeightRow {
            row: "Flat-panel monitor",
            kg: 5.5,
        }),
    },
    DefaultFactor {
        category: Category::Tablet,
        co2e: Some(Co2eRow {
            row: "Tablet",
            manufacturing: 56.3,
            distribution: 3.4,
        }),
        weight: Some(WeightRow {
            row: "Laptop or tablet",
            kg: 1.59,
        }),
    },
    DefaultFactor {
        category: Category::Smartphone,
        co2e: Some(Co2eRow {
            row: "Smartphone",
            manufacturing: 83.0,
            distribution: 2.1,
        }),
        weight: Some(WeightRow {
            row: "Mobile phone",
            kg: 0.09,
        }),
    },
    // The printer CO2e is marked open in `docs/legal.md`; the UNU row covers printers and MFPs.
    DefaultFactor {
        category: Category::Printer,
        co2e: None,
        weight: Some(WeightRow {
            row: "Printer / MFP",
            kg: 10.32,
        }),
    },
    DefaultFactor {
        category: Category::MultifunctionPrinter,
        co2e: None,
        weight: Some(WeightRow {
            row: "Printer / MFP",
            kg: 10.32,
        }),
    },
    // No row in either table.
    DefaultFactor {
        category: Category::Projector,
        co2e: None,
        weight: None,
    },
    // "Professional IT" (40 kg) averages servers and storage bays; a switch or an access point
    // weighs a fraction of that, so the row would inflate the kilograms.
    DefaultFactor {
        category: Category::Network,
        co2e: None,
        weight: None,
    },
    DefaultFactor {
        category: Category::Server,
        co2e: None,
        weight: Some(WeightRow {
            row: "Professional IT",
            kg: 40.0,
        }),
    },
    // Keyboards, mice, docks…: too varied for one figure, and none is published.
    DefaultFactor {
        category: Category::Peripheral,
        co2e: None,
        weight: None,
    },
    DefaultFactor {
        category: Category::Other,
        co2e: None,
        weight: None,
    },
];

/// The factors of `docs/legal.md`: ADEME–Arcep 2022 CO2e (manufacturing +
/// distribution) and UNU 2012 average weights, `None` wherever no figure is confirmed.
pub fn default_factor_set() -> FactorSet {
    let factors = DEFAULT_FACTORS
        .iter()
        .map(|d| {
            let co2e_source = match &d.co2e {
                Some(c) => format!(
                    "CO2e: {ADEME_SOURCE}, row « {} », {} manufacturing + {} distribution",
                    c.row, c.manufacturing, c.distribution
                ),
                None => "CO2e: no confirmed figure (docs/legal.md)".to_owned(),
            };
            let weight_source = match &d.weight {
                Some(w) => format!("weight: {UNU_SOURCE}, row « {} », {} kg", w.row, w.kg),
                None => "weight: no confirmed figure (docs/legal.md)".to_owned(),
            };
            Factor {
                category: d.category,
                co2e_kg: d.co2e.as_ref().map(|c| c.manufacturing + c.distribution),
                weight_kg: d.weight.as_ref().map(|w| w.kg),
                source: format!("{co2e_source}; {weight_source}"),
            }
        })
        .collect();
    FactorSet {
        version: DEFAULT_FACTOR_SET_VERSION.to_owned(),
        published_on: DEFAULT_FACTOR_SET_PUBLISHED_ON,
        factors,
    }
}

// ---------------------------------------------------------------------------------------------
// Outcomes and totals
// ---------------------------------------------------------------------------------------------

/// Where an item ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Given for re-use.
    Donated,
    /// Sent to recycling.
    Recycled,
}

/// One item that reached a final state, as the totals need it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemOutcome {
    pub category: Category,
    pub outcome: Outcome,
    /// A weighed weight (e.g. at disposal), preferred to the factor's average when present.
    pub weight_kg_measured: Option<f64>,
    /// Month of the outcome, 1 to 12; any other value stays out of [`Totals::by_month`].
    pub month: u32,
}

/// What a set of outcomes adds up to: per category and in all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub donated: u32,
    pub recycled: u32,
    /// Sum over donated items of their category's CO2e factor.
    pub co2e_avoided_kg: f64,
    /// Donated items whose category has no confirmed CO2e: left out of `co2e_avoided_kg`.
    pub items_without_co2e_factor: u32,
    /// Weight of donated items.
    pub reused_kg: f64,
    /// Donated items with neither a measured weight nor a factor weight.
    pub reused_items_without_weight: u32,
    /// Weight of recycled items.
    pub recycled_kg: f64,
    /// Recycled items with neither a measured weight nor a factor weight.
    pub recycled_items_without_weight: u32,
}

/// The tally of one category.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryTally {
    pub category: Category,
    pub tally: Tally,
}

/// The counts of one month, for a yearly chart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthCounts {
    /// 1 (January) to 12.
    pub month: u32,
    pub donated: u32,
    pub recycled: u32,
}

/// The impact of a set of outcomes, with how it was computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// [`IMPACT_METHOD`].
    pub method: String,
    /// The [`FactorSet::version`] used.
    pub factor_set_version: String,
    pub overall: Tally,
    /// Categories that have at least one row, in [`Category::ALL`] order.
    pub by_category: Vec<CategoryTally>,
    /// January to December, every month present even when empty.
    pub by_month: [MonthCounts; 12],
    /// Rows whose month is not 1 to 12: in the tallies, not in `by_month`.
    pub rows_outside_months: u32,
}

impl Tally {
    fn add(&mut self, factor: Option<&Factor>, row: &ItemOutcome) {
        let measured = row
            .weight_kg_measured
            .filter(|kg| kg.is_finite() && *kg >= 0.0);
        let weight = measured.or_else(|| factor.and_then(|f| f.weight_kg));
        match row.outcome {
            Outcome::Donated => {
                self.donated += 1;
                match factor.and_then(|f| f.co2e_kg) {
                    Some(kg) => self.co2e_avoided_kg += kg,
                    None => self.items_without_co2e_factor += 1,
                }
                match weight {
                    Some(kg) => self.reused_kg += kg,
                    None => self.reused_items_without_weight += 1,
                }
            }
            Outcome::Recycled => {
                self.recycled += 1;
                match weight {
                    Some(kg) => self.recycled_kg += kg,
                    None => self.recycled_items_without_weight += 1,
                }
            }
        }
    }
}

/// Adds up `rows` with the factors of `set` (validate it first: this trusts its figures).
///
/// - CO2e avoided: each donated item counts its category's manufacturing + distribution CO2e,
///   the emissions of the new device its re-use stands in for. Items whose category has no
///   confirmed CO2e are counted apart, never valued at zero or at a guess. Recycling avoids no
///   manufacturing and counts nothing.
/// - Kilograms, re-used and recycled alike: a measured weight (finite, ≥ 0) when there is one,
///   else the category's average weight, else the item is counted as of unknown weight.
pub fn compute_totals(set: &FactorSet, rows: &[ItemOutcome]) -> Totals {
    let mut overall = Tally::default();
    let mut by_category: Vec<CategoryTally> = Vec::new();
    let mut by_month: [MonthCounts; 12] = std::array::from_fn(|i| MonthCounts {
        // i < 12: the cast cannot truncate.
        month: i as u32 + 1,
        ..MonthCounts::default()
    });
    let mut rows_outside_months = 0;

    for row in rows {
        let factor = set.factor(row.category);
        overall.add(factor, row);
        let index = match by_category.iter().position(|c| c.category == row.category) {
            Some(index) => index,
            None => {
                by_category.push(CategoryTally {
                    category: row.category,
                    tally: Tally::default(),
                });
                by_category.len() - 1
            }
        };
        by_category[index].tally.add(factor, row);

        match by_month.get_mut((row.month as usize).wrapping_sub(1)) {
            Some(month) => match row.outcome {
                Outcome::Donated => month.donated += 1,
                Outcome::Recycled => month.recycled += 1,
            },
            None => rows_outside_months += 1,
        }
    }
    by_category.sort_by_key(|c| c.category);

    Totals {
        method: IMPACT_METHOD.to_owned(),
        factor_set_version: set.version.clone(),
        overall,
        by_category,
        by_month,
        rows_outside_months,
    }
}

// ---------------------------------------------------------------------------------------------
// Legal re-use rate (loi REEN art. 16, décret n° 2023-266)
// ---------------------------------------------------------------------------------------------

/// The share of reformed items to re-use, in percent, from the year given on (décret 2023-266).
const REUSE_TARGETS: [(i32, u32); 3] = [(2023, 25), (2024, 35), (2025, 50)];

fn reuse_target_percent(year: i32) -> Option<u32> {
    REUSE_TARGETS
        .iter()
        .rev()
        .find(|(from, _)| *from <= year)
        .map(|(_, percent)| *percent)
}

/// The share of reformed items that must be re-used in `year` (0.25 in 2023, 0.35 in 2024, 0.5
/// from 2025), `None` before the décret.
pub fn reuse_target(year: i32) -> Option<f64> {
    reuse_target_percent(year).map(|percent| f64::from(percent) / 100.0)
}

/// Whether the décret covers devices of `category`: screens over 100 cm² and small IT and
/// telecom equipment (C. env. R543-172 II, 2° and 6°).
///
/// Our categories carry no size. Printers and MFPs are counted in, although a floor-standing
/// copier is larger than "small" equipment (in the WEEE categories, no external dimension above
/// 50 cm): the category cannot tell them apart, and most office printers are small.
pub fn in_reuse_scope(category: Category) -> bool {
    match category {
        // Small IT; the all-in-one, the laptop, the tablet and the smartphone also have a screen.
        Category::Laptop
        | Category::Desktop
        | Category::AllInOne
        | Category::Tablet
        | Category::Smartphone
        | Category::Printer
        | Category::MultifunctionPrinter
        | Category::Network
        | Category::Peripheral => true,
        // Screens (2°).
        Category::Monitor => true,
        // A video projector has no screen of its own and is audio-visual rather than IT or
        // telecom equipment; `docs/legal.md` gives no ground to count it. Open point, to confirm.
        Category::Projector => false,
        // Rack and tower servers are professional IT, not "small" equipment.
        Category::Server => false,
        // Unknown devices: counting them would be a guess; they are listed as out of scope so
        // that the body can reclassify them.
        Category::Other => false,
    }
}

/// An item a public body parted with, as the re-use rate needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReformedItem {
    /// Opaque, echoed in the result.
    pub id: String,
    pub category: Category,
    /// `None` when unknown: the item is then not excluded on its age, as in the eligibility
    /// check (the body cannot shrink its denominator by not knowing).
    pub acquisition_date: Option<NaiveDate>,
    pub parted_on: NaiveDate,
    /// Went to a re-use route (another public body, sale, donation, eco-organisation take-back).
    pub reused: bool,
    /// The taker committed to re-use before the handover (commitment signed on or before it).
    pub prior_commitment: bool,
    /// The re-use can be proved (signed handover or receipt).
    pub proof_of_reuse: bool,
}

/// Why an item is not counted in the numerator of the rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// Parted with in another year. Outside the denominator.
    OtherYear,
    /// Not a screen nor small IT or telecom equipment ([`in_reuse_scope`]). Outside the
    /// denominator.
    OutOfScope,
    /// Over 10 years old when parted with: recycling is its lawful route. Outside the
    /// denominator.
    OverTenYears,
    /// In the denominator, not re-used.
    NotReused,
    /// In the denominator, re-used without the taker's prior commitment.
    NoPriorCommitment,
    /// In the denominator, re-used with a commitment but without proof.
    NoProof,
}

impl Exclusion {
    pub fn code(self) -> &'static str {
        match self {
            Exclusion::OtherYear => "other_year",
            Exclusion::OutOfScope => "out_of_scope",
            Exclusion::OverTenYears => "over_ten_years",
            Exclusion::NotReused => "not_reused",
            Exclusion::NoPriorCommitment => "no_prior_commitment",
            Exclusion::NoProof => "no_proof",
        }
    }

    /// Whether an item excluded for this reason still counts in the denominator.
    pub fn in_denominator(self) -> bool {
        match self {
            Exclusion::OtherYear | Exclusion::OutOfScope | Exclusion::OverTenYears => false,
            Exclusion::NotReused | Exclusion::NoPriorCommitment | Exclusion::NoProof => true,
        }
    }
}

/// An item left out of the numerator, with the first reason that applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedItem {
    pub id: String,
    pub reason: Exclusion,
}

/// A body's re-use rate for a year, with the items behind it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReuseRate {
    /// [`REUSE_RATE_METHOD`].
    pub method: String,
    pub year: i32,
    /// Items of the denominator re-used with a prior commitment and a proof.
    pub numerator: u32,
    /// Items parted with during the year, in scope, not over 10 years old.
    pub denominator: u32,
    /// `numerator / denominator`; `None` when the denominator is 0.
    pub rate: Option<f64>,
    /// [`reuse_target`] of the year.
    pub target: Option<f64>,
    /// `None` when there is no rate or no target.
    pub meets_target: Option<bool>,
    /// Ids of the numerator, in input order.
    pub counted: Vec<String>,
    /// Every other item, in input order.
    pub excluded: Vec<ExcludedItem>,
}

/// The first reason, in this order, why `item` does not count in the numerator of `year`.
fn exclusion(year: i32, item: &ReformedItem) -> Option<Exclusion> {
    if item.parted_on.year() != year {
        Some(Exclusion::OtherYear)
    } else if !in_reuse_scope(item.category) {
        Some(Exclusion::OutOfScope)
    } else if item
        .acquisition_date
        .is_some_and(|acquired| over_ten_years(acquired, item.parted_on))
    {
        Some(Exclusion::OverTenYears)
    } else if !item.reused {
        Some(Exclusion::NotReused)
    } else if !item.prior_commitment {
        Some(Exclusion::NoPriorCommitment)
    } else if !item.proof_of_reuse {
        Some(Exclusion::NoProof)
    } else {
        None
    }
}

/// The share of reformed items re-used in `year`, as loi REEN art. 16 and décret n° 2023-266 ask
/// of the State and local authorities.
///
/// **Method** ([`REUSE_RATE_METHOD`]). The décret's denominator is the items *reformed and held
/// on 1 January* of the year. The platform does not know a body's whole stock of reformed items,
/// only the items it parted with; so the denominator here is **the items parted with during the
/// calendar year** (by `parted_on`) that are in scope ([`in_reuse_scope`]) and not over 10 years
/// old on the day they were parted with (`lifecycle::over_ten_years`). It is an approximation of
/// the legal figure, and reports must say so.
///
/// The numerator is the items of the denominator that went to a re-use route **and** whose taker
/// committed beforehand **and** whose re-use can be proved: without both, the décret does not
/// count the item.
///
/// Each other item is listed with the first reason that applies, in the order of [`Exclusion`].
/// Whether the target is met is decided on whole numbers, so 7 of 20 meets 35 % exactly.
pub fn reuse_rate(year: i32, items: &[ReformedItem]) -> ReuseRate {
    let mut counted = Vec::new();
    let mut excluded = Vec::new();
    let mut denominator: u32 = 0;
    for item in items {
        match exclusion(year, item) {
            None => {
                denominator += 1;
                counted.push(item.id.clone());
            }
            Some(reason) => {
                if reason.in_denominator() {
                    denominator += 1;
                }
                excluded.push(ExcludedItem {
                    id: item.id.clone(),
                    reason,
                });
            }
        }
    }
    let numerator = u32::try_from(counted.len()).unwrap_or(u32::MAX);
    let target_percent = reuse_target_percent(year);
    let meets_target = match target_percent {
        Some(percent) if denominator > 0 => {
            Some(u64::from(numerator) * 100 >= u64::from(percent) * u64::from(denominator))
        }
        Some(_) | None => None,
    };
    ReuseRate {
        method: REUSE_RATE_METHOD.to_owned(),
        year,
        numerator,
        denominator,
        rate: (denominator > 0).then(|| f64::from(numerator) / f64::from(denominator)),
        target: reuse_target(year),
        meets_target,
        counted,
        excluded,
    }
}

// ---------------------------------------------------------------------------------------------
// Territories
// ---------------------------------------------------------------------------------------------

/// The INSEE code of the region of a département (`41` → `24`, `2A` → `94`, `974` → `04`), in
/// the 18 regions of 2016. `None` for an unknown code and for the overseas collectivities that
/// belong to no region (975, 977, 978, 986–988). Corsica's letters may be in either case.
pub fn region_of_departement(code: &str) -> Option<&'static str> {
    DEPARTEMENT_REGIONS
        .iter()
        .find(|(departement, _)| departement.eq_ignore_ascii_case(code))
        .map(|(_, region)| *region)
}

/// The name of a region from its INSEE code (`24` → « Centre-Val de Loire »).
pub fn region_name(code: &str) -> Option<&'static str> {
    REGIONS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}

/// The 18 regions since 1 January 2016 (INSEE official geographic code).
const REGIONS: [(&str, &str); 18] = [
    ("01", "Guadeloupe"),
    ("02", "Martinique"),
    ("03", "Guyane"),
    ("04", "La Réunion"),
    ("06", "Mayotte"),
    ("11", "Île-de-France"),
    ("24", "Centre-Val de Loire"),
    ("27", "Bourgogne-Franche-Comté"),
    ("28", "Normandie"),
    ("32", "Hauts-de-France"),
    ("44", "Grand Est"),
    ("52", "Pays de la Loire"),
    ("53", "Bretagne"),
    ("75", "Nouvelle-Aquitaine"),
    ("76", "Occitanie"),
    ("84", "Auvergne-Rhône-Alpes"),
    ("93", "Provence-Alpes-Côte d'Azur"),
    ("94", "Corse"),
];

/// The 101 départements and their region.
const DEPARTEMENT_REGIONS: [(&str, &str); 101] = [
    ("01", "84"),
    ("02", "32"),
    ("03", "84"),
    ("04", "93"),
    ("05", "93"),
    ("06", "93"),
    ("07", "84"),
    ("08", "44"),
    ("09", "76"),
    ("10", "44"),
    ("11", "76"),
    ("12", "76"),
    ("13", "93"),
    ("14", "28"),
    ("15", "84"),
    ("16", "75"),
    ("17", "75"),
    ("18", "24"),
    ("19", "75"),
    ("2A", "94"),
    ("2B", "94"),
    ("21", "27"),
    ("22", "53"),
    ("23", "75"),
    ("24", "75"),
    ("25", "27"),
    ("26", "84"),
    ("27", "28"),
    ("28", "24"),
    ("29", "53"),
    ("30", "76"),
    ("31", "76"),
    ("32", "76"),
    ("33", "75"),
    ("34", "76"),
    ("35", "53"),
    ("36", "24"),
    ("37", "24"),
    ("38", "84"),
    ("39", "27"),
    ("40", "75"),
    ("41", "24"),
    ("42", "84"),
    ("43", "84"),
    ("44", "52"),
    ("45", "24"),
    ("46", "76"),
    ("47", "75"),
    ("48", "76"),
    ("49", "52"),
    ("50", "28"),
    ("51", "44"),
    ("52", "44"),
    ("53", "52"),
    ("54", "44"),
    ("55", "44"),
    ("56", "53"),
    ("57", "44"),
    ("58", "27"),
    ("59", "32"),
    ("60", "32"),
    ("61", "28"),
    ("62", "32"),
    ("63", "84"),
    ("64", "75"),
    ("65", "76"),
    ("66", "76"),
    ("67", "44"),
    ("68", "44"),
    ("69", "84"),
    ("70", "27"),
    ("71", "27"),
    ("72", "52"),
    ("73", "84"),
    ("74", "84"),
    ("75", "11"),
    ("76", "28"),
    ("77", "11"),
    ("78", "11"),
    ("79", "75"),
    ("80", "32"),
    ("81", "76"),
    ("82", "76"),
    ("83", "93"),
    ("84", "93"),
    ("85", "52"),
    ("86", "75"),
    ("87", "75"),
    ("88", "44"),
    ("89", "27"),
    ("90", "27"),
    ("91", "11"),
    ("92", "11"),
    ("93", "11"),
    ("94", "11"),
    ("95", "11"),
    ("971", "01"),
    ("972", "02"),
    ("973", "03"),
    ("974", "04"),
    ("976", "06"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::departement_name;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    /// Rounds to the gram (or to 0.001 for a rate), so that sums compare exactly.
    fn milli(x: f64) -> f64 {
        (x * 1000.0).round() / 1000.0
    }

    fn milli_opt(x: Option<f64>) -> Option<f64> {
        x.map(milli)
    }

    // --- factor sets --------------------------------------------------------------------------

    #[test]
    fn default_factor_set_has_the_figures_of_legal_md_and_none_elsewhere() {
        use Category as C;
        // (category, kg CO2e, kg): hand-added from the tables of docs/legal.md.
        let expected: [(Category, Option<f64>, Option<f64>); 13] = [
            (C::Laptop, Some(182.6), Some(1.59)),
            (C::Desktop, Some(204.4), Some(8.77)),
            (C::AllInOne, None, None),
            (C::Monitor, Some(65.9), Some(5.5)),
            (C::Tablet, Some(59.7), Some(1.59)),
            (C::Smartphone, Some(85.1), Some(0.09)),
            (C::Printer, None, Some(10.32)),
            (C::MultifunctionPrinter, None, Some(10.32)),
            (C::Projector, None, None),
            (C::Network, None, None),
            (C::Server, None, Some(40.0)),
            (C::Peripheral, None, None),
            (C::Other, None, None),
        ];
        let set = default_factor_set();
        assert_eq!(set.version, "ademe-arcep-2022.1");
        assert_eq!(set.published_on, day(2022, 1, 19));
        assert_eq!(set.factors.len(), Category::ALL.len());
        for (category, co2e, weight) in expected {
            let factor = set.factor(category).expect("every category has a row");
            assert_eq!(milli_opt(factor.co2e_kg), co2e, "{category:?} CO2e");
            assert_eq!(milli_opt(factor.weight_kg), weight, "{category:?} weight");
        }
    }

    #[test]
    fn default_factor_set_names_its_sources() {
        let set = default_factor_set();
        assert_eq!(set.validate(), Ok(()));
        for factor in &set.factors {
            let name = factor.category.as_str();
            assert_eq!(
                factor.co2e_kg.is_some(),
                factor.source.contains("ADEME–Arcep 2022"),
                "{name}: {}",
                factor.source
            );
            assert_eq!(
                factor.weight_kg.is_some(),
                factor.source.contains("UNU 2012"),
                "{name}: {}",
                factor.source
            );
        }
        let laptop = set.factor(Category::Laptop).expect("laptop");
        assert_eq!(
            laptop.source,
            "CO2e: ADEME Impact CO2, étude ADEME–Arcep 2022 (incubateur-ademe/impactco2 \
             numerique.json @00ff7a2), row « Laptop », 170.3 manufacturing + 12.3 distribution; \
             weight: UNU 2012 average weights (Statistics-Netherlands/ewaste), row « Laptop or \
             tablet », 1.59 kg"
        );
    }

    #[test]
    fn factor_set_validation_lists_every_problem() {
        fn factor(category: Category, co2e_kg: Option<f64>, weight_kg: Option<f64>) -> Factor {
            Factor {
                category,
                co2e_kg,
                weight_kg,
                source: "test".into(),
            }
        }
        let ok = FactorSet {
            version: "v1".into(),
            published_on: day(2026, 1, 1),
            factors: vec![
                factor(Category::Laptop, Some(0.0), Some(1.0)),
                factor(Category::Monitor, None, None),
            ],
        };
        assert_eq!(ok.validate(), Ok(()));

        type Case = (&'static str, fn(&mut FactorSet), &'static [&'static str]);
        let cases: &[Case] = &[
            (
                "blank version",
                |s| s.version = "  ".into(),
                &["version: must not be blank"],
            ),
            (
                "duplicate category",
                |s| s.factors.push(factor(Category::Laptop, None, None)),
                &["factors[2] (laptop): category listed twice"],
            ),
            (
                "negative CO2e",
                |s| s.factors[0].co2e_kg = Some(-1.0),
                &["factors[0] (laptop): co2e_kg must be a finite number ≥ 0, got -1"],
            ),
            (
                "NaN and infinite weight",
                |s| {
                    s.factors[0].weight_kg = Some(f64::NAN);
                    s.factors[1].weight_kg = Some(f64::INFINITY);
                },
                &[
                    "factors[0] (laptop): weight_kg must be a finite number ≥ 0, got NaN",
                    "factors[1] (monitor): weight_kg must be a finite number ≥ 0, got inf",
                ],
            ),
            (
                "blank source",
                |s| s.factors[1].source = String::new(),
                &["factors[1] (monitor): source must not be blank"],
            ),
            (
                "all at once, in order",
                |s| {
                    s.version = String::new();
                    s.factors[0].co2e_kg = Some(-0.5);
                    s.factors.push(Factor {
                        source: " ".into(),
                        ..factor(Category::Monitor, None, None)
                    });
                },
                &[
                    "version: must not be blank",
                    "factors[0] (laptop): co2e_kg must be a finite number ≥ 0, got -0.5",
                    "factors[2] (monitor): category listed twice",
                    "factors[2] (monitor): source must not be blank",
                ],
            ),
        ];
        for (name, break_it, expected) in cases {
            let mut set = ok.clone();
            break_it(&mut set);
            let expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
            assert_eq!(set.validate(), Err(expected), "{name}");
        }
    }

    // --- totals -------------------------------------------------------------------------------

    fn row(category: Category, outcome: Outcome, measured: Option<f64>, month: u32) -> ItemOutcome {
        ItemOutcome {
            category,
            outcome,
            weight_kg_measured: measured,
            month,
        }
    }

    /// Each float of a tally rounded to the gram, to compare with hand-computed figures.
    fn rounded(t: &Tally) -> Tally {
        Tally {
            co2e_avoided_kg: milli(t.co2e_avoided_kg),
            reused_kg: milli(t.reused_kg),
            recycled_kg: milli(t.recycled_kg),
            ..t.clone()
        }
    }

    #[test]
    fn totals_add_up_a_small_fixture_by_hand() {
        use Category as C;
        use Outcome::{Donated, Recycled};
        let rows = [
            row(C::Laptop, Donated, None, 1),
            row(C::Laptop, Donated, None, 1),
            row(C::Laptop, Donated, None, 3),
            row(C::Monitor, Donated, None, 3),
            row(C::Printer, Donated, None, 6),
            row(C::Printer, Donated, None, 6),
            row(C::Desktop, Recycled, Some(7.5), 6),
            row(C::Tablet, Recycled, None, 12),
            // No CO2e and no weight of any kind.
            row(C::Projector, Recycled, None, 12),
        ];
        let totals = compute_totals(&default_factor_set(), &rows);

        assert_eq!(totals.method, "reemploi-impact-v1");
        assert_eq!(totals.factor_set_version, "ademe-arcep-2022.1");
        assert_eq!(
            rounded(&totals.overall),
            Tally {
                donated: 6,
                recycled: 3,
                // 3 × (170.3 + 12.3) + (64.6 + 1.3) = 547.8 + 65.9; the printers have no CO2e.
                co2e_avoided_kg: 613.7,
                items_without_co2e_factor: 2,
                // 3 × 1.59 + 5.5 + 2 × 10.32 = 4.77 + 5.5 + 20.64
                reused_kg: 30.91,
                reused_items_without_weight: 0,
                // 7.5 measured (not the desktop's 8.77) + 1.59 for the tablet
                recycled_kg: 9.09,
                recycled_items_without_weight: 1,
            }
        );

        let by_category: Vec<(Category, Tally)> = totals
            .by_category
            .iter()
            .map(|c| (c.category, rounded(&c.tally)))
            .collect();
        let zero = Tally::default();
        assert_eq!(
            by_category,
            vec![
                (
                    C::Laptop,
                    Tally {
                        donated: 3,
                        co2e_avoided_kg: 547.8,
                        reused_kg: 4.77,
                        ..zero.clone()
                    }
                ),
                (
                    C::Desktop,
                    Tally {
                        recycled: 1,
                        recycled_kg: 7.5,
                        ..zero.clone()
                    }
                ),
                (
                    C::Monitor,
                    Tally {
                        donated: 1,
                        co2e_avoided_kg: 65.9,
                        reused_kg: 5.5,
                        ..zero.clone()
                    }
                ),
                (
                    C::Tablet,
                    Tally {
                        recycled: 1,
                        recycled_kg: 1.59,
                        ..zero.clone()
                    }
                ),
                (
                    C::Printer,
                    Tally {
                        donated: 2,
                        items_without_co2e_factor: 2,
                        reused_kg: 20.64,
                        ..zero.clone()
                    }
                ),
                (
                    C::Projector,
                    Tally {
                        recycled: 1,
                        recycled_items_without_weight: 1,
                        ..zero.clone()
                    }
                ),
            ]
        );

        let months: Vec<(u32, u32, u32)> = totals
            .by_month
            .iter()
            .map(|m| (m.month, m.donated, m.recycled))
            .collect();
        assert_eq!(
            months,
            vec![
                (1, 2, 0),
                (2, 0, 0),
                (3, 2, 0),
                (4, 0, 0),
                (5, 0, 0),
                (6, 2, 1),
                (7, 0, 0),
                (8, 0, 0),
                (9, 0, 0),
                (10, 0, 0),
                (11, 0, 0),
                (12, 0, 2),
            ]
        );
        assert_eq!(totals.rows_outside_months, 0);
    }

    #[test]
    fn totals_of_nothing_are_zero_with_twelve_empty_months() {
        let totals = compute_totals(&default_factor_set(), &[]);
        assert_eq!(totals.overall, Tally::default());
        assert!(totals.by_category.is_empty());
        assert_eq!(
            totals.by_month.map(|m| m.month),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
        assert!(
            totals
                .by_month
                .iter()
                .all(|m| m.donated == 0 && m.recycled == 0)
        );
        assert_eq!(totals.method, IMPACT_METHOD);
        assert_eq!(totals.factor_set_version, DEFAULT_FACTOR_SET_VERSION);
    }

    #[test]
    fn measured_weight_wins_unless_it_is_not_a_weight() {
        use Category as C;
        use Outcome::{Donated, Recycled};
        // (row, expected reused kg, expected recycled kg, items without weight)
        let cases = [
            (row(C::Laptop, Donated, Some(2.2), 1), 2.2, 0.0, 0),
            (row(C::Laptop, Donated, None, 1), 1.59, 0.0, 0),
            (row(C::Laptop, Recycled, Some(0.0), 1), 0.0, 0.0, 0),
            (row(C::Laptop, Recycled, Some(-3.0), 1), 0.0, 1.59, 0),
            (row(C::Laptop, Recycled, Some(f64::NAN), 1), 0.0, 1.59, 0),
            (row(C::Peripheral, Recycled, Some(0.4), 1), 0.0, 0.4, 0),
            (row(C::Peripheral, Recycled, None, 1), 0.0, 0.0, 1),
            (row(C::Other, Donated, None, 1), 0.0, 0.0, 1),
        ];
        for (r, reused, recycled, without) in cases {
            let t = compute_totals(&default_factor_set(), std::slice::from_ref(&r)).overall;
            assert_eq!(milli(t.reused_kg), reused, "{r:?}");
            assert_eq!(milli(t.recycled_kg), recycled, "{r:?}");
            assert_eq!(
                t.reused_items_without_weight + t.recycled_items_without_weight,
                without,
                "{r:?}"
            );
        }
    }

    #[test]
    fn rows_outside_january_to_december_stay_in_the_tallies_only() {
        let rows = [
            row(Category::Laptop, Outcome::Donated, None, 0),
            row(Category::Laptop, Outcome::Donated, None, 13),
            row(Category::Laptop, Outcome::Recycled, None, 12),
        ];
        let totals = compute_totals(&default_factor_set(), &rows);
        assert_eq!((totals.overall.donated, totals.overall.recycled), (2, 1));
        assert_eq!(totals.rows_outside_months, 2);
        assert_eq!(totals.by_month.iter().map(|m| m.donated).sum::<u32>(), 0);
        assert_eq!(totals.by_month[11].recycled, 1);
    }

    #[test]
    fn totals_name_the_version_of_the_set_they_used() {
        let mut set = default_factor_set();
        set.version = "operator-2026.2".into();
        set.factors.retain(|f| f.category != Category::Laptop);
        let totals = compute_totals(&set, &[row(Category::Laptop, Outcome::Donated, None, 5)]);
        assert_eq!(totals.factor_set_version, "operator-2026.2");
        // A category missing from the set is valued like one without figures.
        assert_eq!(totals.overall.items_without_co2e_factor, 1);
        assert_eq!(totals.overall.reused_items_without_weight, 1);
    }

    // --- re-use rate --------------------------------------------------------------------------

    #[test]
    fn reuse_targets_follow_the_decree_year_by_year() {
        let cases = [
            (2000, None),
            (2022, None),
            (2023, Some(0.25)),
            (2024, Some(0.35)),
            (2025, Some(0.5)),
            (2026, Some(0.5)),
            (2030, Some(0.5)),
        ];
        for (year, target) in cases {
            assert_eq!(reuse_target(year), target, "{year}");
        }
    }

    #[test]
    fn reuse_scope_is_screens_and_small_it() {
        use Category as C;
        let cases = [
            (C::Laptop, true),
            (C::Desktop, true),
            (C::AllInOne, true),
            (C::Monitor, true),
            (C::Tablet, true),
            (C::Smartphone, true),
            (C::Printer, true),
            (C::MultifunctionPrinter, true),
            (C::Network, true),
            (C::Peripheral, true),
            (C::Projector, false),
            (C::Server, false),
            (C::Other, false),
        ];
        assert_eq!(cases.len(), Category::ALL.len());
        for (category, in_scope) in cases {
            assert_eq!(in_reuse_scope(category), in_scope, "{category:?}");
        }
    }

    /// A laptop bought in 2020, parted with in mid-2025, re-used with commitment and proof.
    fn reformed(id: &str) -> ReformedItem {
        ReformedItem {
            id: id.into(),
            category: Category::Laptop,
            acquisition_date: Some(day(2020, 3, 1)),
            parted_on: day(2025, 6, 15),
            reused: true,
            prior_commitment: true,
            proof_of_reuse: true,
        }
    }

    #[test]
    fn reuse_rate_counts_and_excludes_each_item_with_its_reason() {
        let items = [
            reformed("ok-1"),
            ReformedItem {
                parted_on: day(2024, 12, 31),
                ..reformed("last-year")
            },
            ReformedItem {
                parted_on: day(2026, 1, 1),
                ..reformed("next-year")
            },
            ReformedItem {
                category: Category::Server,
                ..reformed("server")
            },
            ReformedItem {
                acquisition_date: Some(day(2015, 6, 14)),
                ..reformed("old")
            },
            ReformedItem {
                reused: false,
                prior_commitment: false,
                proof_of_reuse: false,
                ..reformed("recycled")
            },
            ReformedItem {
                prior_commitment: false,
                ..reformed("no-commitment")
            },
            ReformedItem {
                proof_of_reuse: false,
                ..reformed("no-proof")
            },
            // Exactly ten years old on the day: not over, so in the denominator.
            ReformedItem {
                acquisition_date: Some(day(2015, 6, 15)),
                ..reformed("ten-years-to-the-day")
            },
            // Unknown age: kept.
            ReformedItem {
                acquisition_date: None,
                category: Category::Monitor,
                ..reformed("unknown-age")
            },
            // Several reasons: the first in order is given.
            ReformedItem {
                category: Category::Other,
                acquisition_date: Some(day(2001, 1, 1)),
                reused: false,
                parted_on: day(2025, 2, 1),
                ..reformed("other-and-old")
            },
        ];
        let rate = reuse_rate(2025, &items);

        assert_eq!(rate.method, "reemploi-reuse-rate-v1");
        assert_eq!(rate.year, 2025);
        assert_eq!(
            rate.counted,
            vec!["ok-1", "ten-years-to-the-day", "unknown-age"]
        );
        let excluded: Vec<(&str, &str)> = rate
            .excluded
            .iter()
            .map(|e| (e.id.as_str(), e.reason.code()))
            .collect();
        assert_eq!(
            excluded,
            vec![
                ("last-year", "other_year"),
                ("next-year", "other_year"),
                ("server", "out_of_scope"),
                ("old", "over_ten_years"),
                ("recycled", "not_reused"),
                ("no-commitment", "no_prior_commitment"),
                ("no-proof", "no_proof"),
                ("other-and-old", "out_of_scope"),
            ]
        );
        // 3 counted + not_reused + no_prior_commitment + no_proof.
        assert_eq!((rate.numerator, rate.denominator), (3, 6));
        assert_eq!(milli_opt(rate.rate), Some(0.5));
        assert_eq!(rate.target, Some(0.5));
        assert_eq!(rate.meets_target, Some(true));
    }

    #[test]
    fn reuse_target_is_met_on_whole_numbers() {
        /// `reused` of `total` items in `year`: (rate rounded, meets target).
        fn judge(year: i32, reused: usize, total: usize) -> (Option<f64>, Option<bool>) {
            let items: Vec<ReformedItem> = (0..total)
                .map(|i| ReformedItem {
                    acquisition_date: Some(day(year - 2, 1, 1)),
                    parted_on: day(year, 6, 15),
                    reused: i < reused,
                    ..reformed(&format!("item-{i}"))
                })
                .collect();
            let rate = reuse_rate(year, &items);
            (milli_opt(rate.rate), rate.meets_target)
        }
        let cases = [
            ((2023, 1, 4), (Some(0.25), Some(true))),
            ((2023, 0, 4), (Some(0.0), Some(false))),
            ((2024, 7, 20), (Some(0.35), Some(true))),
            ((2024, 6, 20), (Some(0.3), Some(false))),
            ((2025, 1, 2), (Some(0.5), Some(true))),
            ((2025, 49, 100), (Some(0.49), Some(false))),
            ((2030, 3, 3), (Some(1.0), Some(true))),
            // Before the décret: a rate, but no target to meet.
            ((2022, 1, 2), (Some(0.5), None)),
            // Nothing parted with: no rate.
            ((2025, 0, 0), (None, None)),
        ];
        for ((year, reused, total), expected) in cases {
            assert_eq!(
                judge(year, reused, total),
                expected,
                "{year}: {reused}/{total}"
            );
        }
    }

    #[test]
    fn exclusions_say_whether_they_stay_in_the_denominator() {
        let cases = [
            (Exclusion::OtherYear, "other_year", false),
            (Exclusion::OutOfScope, "out_of_scope", false),
            (Exclusion::OverTenYears, "over_ten_years", false),
            (Exclusion::NotReused, "not_reused", true),
            (Exclusion::NoPriorCommitment, "no_prior_commitment", true),
            (Exclusion::NoProof, "no_proof", true),
        ];
        for (exclusion, code, in_denominator) in cases {
            assert_eq!(exclusion.code(), code);
            assert_eq!(
                serde_json::to_value(exclusion).expect("serialisable"),
                serde_json::Value::String(code.to_owned())
            );
            assert_eq!(exclusion.in_denominator(), in_denominator, "{code}");
        }
    }

    // --- territories --------------------------------------------------------------------------

    #[test]
    fn departements_map_to_their_region() {
        let cases = [
            ("41", Some(("24", "Centre-Val de Loire"))),
            ("2A", Some(("94", "Corse"))),
            ("2b", Some(("94", "Corse"))),
            ("75", Some(("11", "Île-de-France"))),
            ("974", Some(("04", "La Réunion"))),
            ("976", Some(("06", "Mayotte"))),
            ("69", Some(("84", "Auvergne-Rhône-Alpes"))),
            ("20", None),
            ("96", None),
            ("975", None),
            ("988", None),
            ("", None),
            ("041", None),
        ];
        for (departement, expected) in cases {
            let got = region_of_departement(departement)
                .map(|region| (region, region_name(region).expect("named region")));
            assert_eq!(got, expected, "{departement:?}");
        }
        assert_eq!(region_name("99"), None);
    }

    #[test]
    fn every_departement_and_region_is_in_the_tables_once() {
        for (departement, region) in DEPARTEMENT_REGIONS {
            assert!(departement_name(departement).is_some(), "{departement}");
            assert!(region_name(region).is_some(), "{departement} → {region}");
            let entries = DEPARTEMENT_REGIONS
                .iter()
                .filter(|(d, _)| *d == departement)
                .count();
            assert_eq!(entries, 1, "{departement}");
        }
        for (region, _) in REGIONS {
            let departements = DEPARTEMENT_REGIONS
                .iter()
                .filter(|(_, r)| *r == region)
                .count();
            assert!(departements > 0, "{region} has no département");
        }
        // Counts per region, from the INSEE official geographic code.
        let sizes = [
            ("11", 8),
            ("24", 6),
            ("27", 8),
            ("28", 5),
            ("32", 5),
            ("44", 10),
            ("52", 5),
            ("53", 4),
            ("75", 12),
            ("76", 13),
            ("84", 12),
            ("93", 6),
            ("94", 2),
        ];
        for (region, size) in sizes {
            let departements = DEPARTEMENT_REGIONS
                .iter()
                .filter(|(_, r)| *r == region)
                .count();
            assert_eq!(departements, size, "{region}");
        }
    }
}
