//! Devices: categories and their specifications, inventory numbers, printable public codes.

use serde::{Deserialize, Serialize};

use crate::error::{FieldErrors, Invalid};
use crate::text::Text;

/// What kind of device an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Laptop,
    Desktop,
    AllInOne,
    Monitor,
    Tablet,
    Smartphone,
    Printer,
    MultifunctionPrinter,
    Projector,
    Network,
    Server,
    Peripheral,
    Other,
}

/// A specification field of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecField {
    Cpu,
    RamGb,
    StorageGb,
    StorageKind,
    ScreenInches,
    BatteryHealthPercent,
}

impl SpecField {
    pub fn name(self) -> &'static str {
        match self {
            SpecField::Cpu => "cpu",
            SpecField::RamGb => "ram_gb",
            SpecField::StorageGb => "storage_gb",
            SpecField::StorageKind => "storage_kind",
            SpecField::ScreenInches => "screen_inches",
            SpecField::BatteryHealthPercent => "battery_health_percent",
        }
    }
}

impl Category {
    pub const ALL: [Category; 13] = [
        Category::Laptop,
        Category::Desktop,
        Category::AllInOne,
        Category::Monitor,
        Category::Tablet,
        Category::Smartphone,
        Category::Printer,
        Category::MultifunctionPrinter,
        Category::Projector,
        Category::Network,
        Category::Server,
        Category::Peripheral,
        Category::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Laptop => "laptop",
            Category::Desktop => "desktop",
            Category::AllInOne => "all_in_one",
            Category::Monitor => "monitor",
            Category::Tablet => "tablet",
            Category::Smartphone => "smartphone",
            Category::Printer => "printer",
            Category::MultifunctionPrinter => "multifunction_printer",
            Category::Projector => "projector",
            Category::Network => "network",
            Category::Server => "server",
            Category::Peripheral => "peripheral",
            Category::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// French label, for documents and reports.
    pub fn label_fr(self) -> &'static str {
        match self {
            Category::Laptop => "Ordinateur portable",
            Category::Desktop => "Ordinateur de bureau",
            Category::AllInOne => "Ordinateur tout-en-un",
            Category::Monitor => "Écran",
            Category::Tablet => "Tablette",
            Category::Smartphone => "Smartphone",
            Category::Printer => "Imprimante",
            Category::MultifunctionPrinter => "Imprimante multifonction",
            Category::Projector => "Vidéoprojecteur",
            Category::Network => "Équipement réseau",
            Category::Server => "Serveur",
            Category::Peripheral => "Périphérique",
            Category::Other => "Autre",
        }
    }

    /// Whether devices of this category usually hold user data (and so need sanitisation).
    pub fn has_data_storage_by_default(self) -> bool {
        match self {
            Category::Laptop
            | Category::Desktop
            | Category::AllInOne
            | Category::Tablet
            | Category::Smartphone
            | Category::Server
            | Category::MultifunctionPrinter => true,
            Category::Monitor
            | Category::Printer
            | Category::Projector
            | Category::Network
            | Category::Peripheral
            | Category::Other => false,
        }
    }

    /// The specification fields that make sense for this category.
    pub fn spec_fields(self) -> &'static [SpecField] {
        use SpecField::*;
        match self {
            Category::Laptop => &[
                Cpu,
                RamGb,
                StorageGb,
                StorageKind,
                ScreenInches,
                BatteryHealthPercent,
            ],
            Category::Desktop | Category::Server => &[Cpu, RamGb, StorageGb, StorageKind],
            Category::AllInOne => &[Cpu, RamGb, StorageGb, StorageKind, ScreenInches],
            Category::Tablet | Category::Smartphone => &[
                Cpu,
                RamGb,
                StorageGb,
                StorageKind,
                ScreenInches,
                BatteryHealthPercent,
            ],
            Category::Monitor => &[ScreenInches],
            Category::MultifunctionPrinter => &[StorageGb, StorageKind],
            Category::Printer
            | Category::Projector
            | Category::Network
            | Category::Peripheral
            | Category::Other => &[],
        }
    }
}

/// The kind of a storage medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    Hdd,
    Ssd,
    Nvme,
    Emmc,
    Flash,
}

impl StorageKind {
    pub const ALL: [StorageKind; 5] = [
        StorageKind::Hdd,
        StorageKind::Ssd,
        StorageKind::Nvme,
        StorageKind::Emmc,
        StorageKind::Flash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StorageKind::Hdd => "hdd",
            StorageKind::Ssd => "ssd",
            StorageKind::Nvme => "nvme",
            StorageKind::Emmc => "emmc",
            StorageKind::Flash => "flash",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Specifications as submitted; each is checked against the category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Specs {
    pub cpu: Option<String>,
    pub ram_gb: Option<i32>,
    pub storage_gb: Option<i32>,
    pub storage_kind: Option<StorageKind>,
    pub screen_inches: Option<f64>,
    pub battery_health_percent: Option<i32>,
    /// Cores and highest frequency of the processor(s), as a hardware report gives them.
    pub cpu_cores: Option<i32>,
    pub cpu_mhz: Option<i32>,
    /// Battery design capacity and last full-charge capacity, in mWh.
    pub battery_design_mwh: Option<i32>,
    pub battery_full_mwh: Option<i32>,
}

impl Specs {
    /// Checks ranges and that each given field applies to `category`, prefixing field names
    /// with `prefix` (`specs.`).
    pub fn check(&self, category: Category, prefix: &str, errors: &mut FieldErrors) {
        let allowed = category.spec_fields();
        let mut given = |field: SpecField, present: bool, in_range: bool| {
            if !present {
                return;
            }
            let name = format!("{prefix}{}", field.name());
            if !allowed.contains(&field) {
                errors.push(name, Invalid::NotAllowedForKind);
            } else if !in_range {
                errors.push(name, Invalid::OutOfRange);
            }
        };
        given(
            SpecField::Cpu,
            self.cpu.as_deref().is_some_and(|c| !c.trim().is_empty()),
            self.cpu
                .as_deref()
                .is_none_or(|c| c.trim().chars().count() <= 100),
        );
        given(
            SpecField::RamGb,
            self.ram_gb.is_some(),
            self.ram_gb.is_none_or(|v| (1..=4096).contains(&v)),
        );
        given(
            SpecField::StorageGb,
            self.storage_gb.is_some(),
            self.storage_gb.is_none_or(|v| (1..=1_000_000).contains(&v)),
        );
        given(SpecField::StorageKind, self.storage_kind.is_some(), true);
        given(
            SpecField::ScreenInches,
            self.screen_inches.is_some(),
            self.screen_inches
                .is_none_or(|v| v.is_finite() && (1.0..=120.0).contains(&v)),
        );
        given(
            SpecField::BatteryHealthPercent,
            self.battery_health_percent.is_some(),
            self.battery_health_percent
                .is_none_or(|v| (0..=100).contains(&v)),
        );
        // The processor's and the battery's details go with the field they detail; they are
        // named by their own field in errors.
        let mut detail = |name: &str,
                          of: SpecField,
                          value: Option<i32>,
                          range: std::ops::RangeInclusive<i32>| {
            let Some(v) = value else { return };
            let name = format!("{prefix}{name}");
            if !allowed.contains(&of) {
                errors.push(name, Invalid::NotAllowedForKind);
            } else if !range.contains(&v) {
                errors.push(name, Invalid::OutOfRange);
            }
        };
        detail("cpu_cores", SpecField::Cpu, self.cpu_cores, 1..=1024);
        detail("cpu_mhz", SpecField::Cpu, self.cpu_mhz, 100..=10_000);
        detail(
            "battery_design_mwh",
            SpecField::BatteryHealthPercent,
            self.battery_design_mwh,
            1..=1_000_000,
        );
        detail(
            "battery_full_mwh",
            SpecField::BatteryHealthPercent,
            self.battery_full_mwh,
            1..=1_000_000,
        );
    }
}

/// An inventory number as the public body assigned it: at most 25 characters (INDIGO
/// "NumInvent"), printable, unique per body and never reused.
///
/// Read back from JSON (a staged import), it is checked again like any input.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InventoryNumber(String);

impl TryFrom<String> for InventoryNumber {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw).map_err(|e| format!("invalid inventory number: {e:?}"))
    }
}

impl From<InventoryNumber> for String {
    fn from(n: InventoryNumber) -> String {
        n.0
    }
}

impl InventoryNumber {
    pub const MAX_LEN: usize = 25;

    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Invalid::Required);
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(Invalid::TooLong);
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid::InvalidFormat);
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free-text identity fields of a device.
pub type Brand = Text<100>;
pub type Model = Text<200>;
pub type Serial = Text<100>;

/// The alphabet of public codes: Crockford's base 32 (no I, L, O, U), easy to read and type.
pub const PUBLIC_CODE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of a public code (50 random bits: collisions stay negligible at millions of items).
pub const PUBLIC_CODE_LEN: usize = 10;

/// A short code printed on a device's label (QR code), e.g. `7K3M9-QXA2B` (shown with a dash).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PublicCode(String);

impl PublicCode {
    /// Builds a code from 50 random bits (the caller draws them).
    pub fn from_random(bits: u64) -> Self {
        let mut s = String::with_capacity(PUBLIC_CODE_LEN);
        for i in (0..PUBLIC_CODE_LEN).rev() {
            let idx = ((bits >> (i * 5)) & 0x1f) as usize;
            s.push(char::from(PUBLIC_CODE_ALPHABET[idx]));
        }
        Self(s)
    }

    /// Reads a code as a person types it: case, dashes and spaces ignored; O read as 0, I and L
    /// as 1.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut s = String::with_capacity(PUBLIC_CODE_LEN);
        for c in raw.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c => c,
            };
            if !c.is_ascii() || !PUBLIC_CODE_ALPHABET.contains(&(c as u8)) {
                return Err(Invalid::InvalidFormat);
            }
            s.push(c);
        }
        if s.len() == PUBLIC_CODE_LEN {
            Ok(Self(s))
        } else {
            Err(Invalid::InvalidFormat)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code as printed: two groups of five (`7K3M9-QXA2B`).
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..5], &self.0[5..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn inventory_numbers_are_at_most_25_characters() {
        assert!(InventoryNumber::parse("INV-2016-01000").is_ok());
        assert_eq!(
            InventoryNumber::parse(&"X".repeat(26)),
            Err(Invalid::TooLong)
        );
        assert_eq!(InventoryNumber::parse("  "), Err(Invalid::Required));
    }

    #[test]
    fn specs_must_fit_the_category() {
        let mut errors = FieldErrors::new();
        Specs {
            screen_inches: Some(24.0),
            ram_gb: Some(8),
            ..Specs::default()
        }
        .check(Category::Monitor, "specs.", &mut errors);
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].field, "specs.ram_gb");
        let mut errors = FieldErrors::new();
        Specs {
            ram_gb: Some(0),
            battery_health_percent: Some(101),
            ..Specs::default()
        }
        .check(Category::Laptop, "", &mut errors);
        assert_eq!(
            errors.0.iter().map(|e| e.reason).collect::<Vec<_>>(),
            [Invalid::OutOfRange, Invalid::OutOfRange]
        );
    }

    proptest! {
        #[test]
        fn public_codes_round_trip_through_what_people_type(bits in 0u64..(1u64 << 50)) {
            let code = PublicCode::from_random(bits);
            prop_assert_eq!(PublicCode::parse(&code.display().to_lowercase()), Ok(code.clone()));
            prop_assert_eq!(code.as_str().len(), PUBLIC_CODE_LEN);
        }

        #[test]
        fn public_code_parsing_never_panics(s in "\\PC{0,12}") {
            let _ = PublicCode::parse(&s);
        }
    }
}
