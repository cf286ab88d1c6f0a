//! The refurbisher's bench: data sanitisation (NIST SP 800-88), functional tests and grade, and
//! disposal to recycling.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{FieldErrors, Invalid};
use crate::lifecycle::{Grade, ItemStatus};
use crate::text::Text;

/// How a medium was sanitised (NIST SP 800-88; crypto erase as in its Rev. 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SanitisationMethod {
    /// Logical overwrite of user-addressable areas: not enough for a medium leaving the body.
    Clear,
    /// Recovery infeasible even in a laboratory (block erase, overwrite with verification…).
    Purge,
    /// Cryptographic erase: the encryption key is destroyed.
    CryptoErase,
    /// The medium is physically destroyed (and leaves the device).
    Destroy,
}

impl SanitisationMethod {
    pub const ALL: [SanitisationMethod; 4] = [
        SanitisationMethod::Clear,
        SanitisationMethod::Purge,
        SanitisationMethod::CryptoErase,
        SanitisationMethod::Destroy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SanitisationMethod::Clear => "clear",
            SanitisationMethod::Purge => "purge",
            SanitisationMethod::CryptoErase => "crypto_erase",
            SanitisationMethod::Destroy => "destroy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether a successful record with this method allows re-use outside the organisation:
    /// NIST asks at least Purge for media that leave it, so Clear does not.
    pub fn sufficient_for_reuse(self) -> bool {
        match self {
            SanitisationMethod::Purge
            | SanitisationMethod::CryptoErase
            | SanitisationMethod::Destroy => true,
            SanitisationMethod::Clear => false,
        }
    }
}

/// One sanitisation attempt on one medium, as far as the publication rule needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediumAttempt<'a> {
    pub medium_serial: &'a str,
    pub method: SanitisationMethod,
    pub success: bool,
    pub ended_at: DateTime<Utc>,
}

/// The key a medium's serial is compared by: trimmed, upper case. "s3z9nb0k" typed at the bench
/// and "S3Z9NB0K " read from the inventory are one disk.
pub fn medium_key(serial: &str) -> String {
    serial.trim().to_uppercase()
}

/// Where a medium's declaration came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediumSource {
    /// The body's inventory file.
    Import,
    /// The device's form (creation or correction by the body).
    Form,
    /// A declaration on the bench, by the refurbisher who opened the device.
    Bench,
    /// The refurbishment record.
    Refurbishment,
    /// A hardware report (lshw) of the device.
    HardwareReport,
}

impl MediumSource {
    pub const ALL: [MediumSource; 5] = [
        MediumSource::Import,
        MediumSource::Form,
        MediumSource::Bench,
        MediumSource::Refurbishment,
        MediumSource::HardwareReport,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MediumSource::Import => "import",
            MediumSource::Form => "form",
            MediumSource::Bench => "bench",
            MediumSource::Refurbishment => "refurbishment",
            MediumSource::HardwareReport => "hardware_report",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Where a declared medium stands for publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediumState {
    /// Its latest attempt succeeded with a method sufficient for re-use.
    Sanitised,
    /// Its latest attempt failed, or used a method that is not enough (Clear).
    NotSufficient,
    /// No attempt is recorded on it.
    NotSanitised,
}

impl MediumState {
    pub fn as_str(self) -> &'static str {
        match self {
            MediumState::Sanitised => "sanitised",
            MediumState::NotSufficient => "not_sufficient",
            MediumState::NotSanitised => "not_sanitised",
        }
    }
}

/// Where one declared medium (by its serial, compared with [`medium_key`]) stands, given the
/// attempts recorded on the device: its latest attempt decides.
pub fn medium_state(serial: &str, attempts: &[MediumAttempt<'_>]) -> MediumState {
    let key = medium_key(serial);
    match attempts
        .iter()
        .filter(|a| medium_key(a.medium_serial) == key)
        .max_by_key(|a| a.ended_at)
    {
        None => MediumState::NotSanitised,
        Some(latest) if latest.success && latest.method.sufficient_for_reuse() => {
            MediumState::Sanitised
        }
        Some(_) => MediumState::NotSufficient,
    }
}

/// Whether the storage of a device is sanitised: it declares at least one medium, and each
/// declared medium's latest attempt succeeded with a method sufficient for re-use. A failed
/// attempt thus blocks publication until a later successful one exists for that medium, and a
/// wiped disk does not stand for another declared one. Attempts on media the device does not
/// declare prove nothing about the declared ones.
pub fn storage_sanitised(declared: &[&str], attempts: &[MediumAttempt<'_>]) -> bool {
    !declared.is_empty()
        && declared
            .iter()
            .all(|serial| medium_state(serial, attempts) == MediumState::Sanitised)
}

/// Checks a declared list of media: at most [`MAX_MEDIA`], each serial non-blank and at most 100
/// characters, and no serial twice (compared with [`medium_key`]).
pub fn check_media<'a>(
    serials: impl IntoIterator<Item = &'a str>,
    field: &str,
    errors: &mut FieldErrors,
) {
    let mut seen: Vec<String> = Vec::new();
    for (i, serial) in serials.into_iter().enumerate() {
        if i >= MAX_MEDIA {
            errors.push(field, Invalid::OutOfRange);
            return;
        }
        let at = format!("{field}[{i}].serial");
        let key = medium_key(serial);
        if key.is_empty() {
            errors.push(&at, Invalid::Required);
        } else if key.chars().count() > 100 {
            errors.push(&at, Invalid::TooLong);
        } else if seen.contains(&key) {
            errors.push(&at, Invalid::Duplicate);
        } else {
            seen.push(key);
        }
    }
}

/// The most media one device declares (a server with a full disk bay stays under it).
pub const MAX_MEDIA: usize = 24;

/// Checks the times of a sanitisation: it ends after it starts, and not in the future.
pub fn check_period(
    started: DateTime<Utc>,
    ended: DateTime<Utc>,
    now: DateTime<Utc>,
    errors: &mut FieldErrors,
) {
    if ended < started {
        errors.push("ended_at", Invalid::OutOfRange);
    }
    if ended > now + chrono::TimeDelta::minutes(5) {
        errors.push("ended_at", Invalid::OutOfRange);
    }
}

/// Where a disposed device goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisposalChannel {
    /// An approved eco-organisation (ecosystem, Ecologic…).
    EcoOrganisme,
    /// An approved WEEE recycler.
    ApprovedRecycler,
}

impl DisposalChannel {
    pub const ALL: [DisposalChannel; 2] = [
        DisposalChannel::EcoOrganisme,
        DisposalChannel::ApprovedRecycler,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisposalChannel::EcoOrganisme => "eco_organisme",
            DisposalChannel::ApprovedRecycler => "approved_recycler",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A hazardous-waste tracking slip number (BSDD, Trackdéchets): letters, digits and dashes.
pub fn parse_bsdd(raw: &str) -> Result<Text<40>, Invalid> {
    let t = Text::<40>::parse(raw)?;
    if t.as_str()
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        Ok(t)
    } else {
        Err(Invalid::InvalidFormat)
    }
}

/// Checks a disposal: a weight between 1 g and 2 t, a date not in the future.
pub fn check_disposal(
    weight_grams: i64,
    disposed_on: NaiveDate,
    today: NaiveDate,
    errors: &mut FieldErrors,
) {
    if !(1..=2_000_000).contains(&weight_grams) {
        errors.push("weight_kg", Invalid::OutOfRange);
    }
    if disposed_on > today {
        errors.push("disposed_on", Invalid::OutOfRange);
    }
}

/// How a grade is written: `A`, `B` or `C`.
pub fn grade_as_str(g: Grade) -> &'static str {
    match g {
        Grade::A => "A",
        Grade::B => "B",
        Grade::C => "C",
    }
}

/// Reads a stored grade; anything else is no grade.
pub fn parse_grade(s: &str) -> Option<Grade> {
    [Grade::A, Grade::B, Grade::C]
        .into_iter()
        .find(|g| grade_as_str(*g) == s)
}

/// Whether a device's storage media may be declared in this status: in its body's inventory
/// (listed or not) and on the bench; from publication on, the declared media are those the
/// erasure certificate speaks of.
pub fn accepts_media_declaration(status: ItemStatus) -> bool {
    match status {
        ItemStatus::Inventoried
        | ItemStatus::Listed
        | ItemStatus::Collected
        | ItemStatus::Refurbished => true,
        ItemStatus::Awarded
        | ItemStatus::Available
        | ItemStatus::Reserved
        | ItemStatus::Donated
        | ItemStatus::Recycled => false,
    }
}

/// Whether sanitisations may be recorded on a device in this status: on the bench only, once
/// collected and until it is published.
pub fn accepts_sanitisation(status: ItemStatus) -> bool {
    match status {
        ItemStatus::Collected | ItemStatus::Refurbished => true,
        ItemStatus::Inventoried
        | ItemStatus::Listed
        | ItemStatus::Awarded
        | ItemStatus::Available
        | ItemStatus::Reserved
        | ItemStatus::Donated
        | ItemStatus::Recycled => false,
    }
}

/// What recording a bench result does to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchResult {
    /// A refurbished device only gets its new grade (no status change).
    Regrade,
    /// Otherwise the `refurbish` transition is fired (the life-cycle table refuses it from
    /// anything but `collected`).
    Refurbish,
}

/// What recording a bench result does to a device in this status.
pub fn bench_result(status: ItemStatus) -> BenchResult {
    match status {
        ItemStatus::Refurbished => BenchResult::Regrade,
        ItemStatus::Inventoried
        | ItemStatus::Listed
        | ItemStatus::Awarded
        | ItemStatus::Collected
        | ItemStatus::Available
        | ItemStatus::Reserved
        | ItemStatus::Donated
        | ItemStatus::Recycled => BenchResult::Refurbish,
    }
}

/// How a device in a given status goes to recycling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DisposalRoute {
    /// The transition of the life-cycle table to fire.
    pub transition: &'static str,
    /// Whether the device leaves its lot. A device still in the body's inventory sits at most in
    /// a lot not yet handed over, which must not offer it any more. A device that was collected
    /// stays in its lot: the lot is the record of what was handed over (and its documents, such
    /// as the cession's minutes, list it).
    pub leaves_lot: bool,
}

/// How a device in this status goes to recycling (the table refuses the statuses it cannot).
pub fn disposal_route(status: ItemStatus) -> DisposalRoute {
    match status {
        ItemStatus::Inventoried => DisposalRoute {
            transition: "recycle_inventoried",
            leaves_lot: true,
        },
        ItemStatus::Listed
        | ItemStatus::Awarded
        | ItemStatus::Collected
        | ItemStatus::Refurbished
        | ItemStatus::Available
        | ItemStatus::Reserved
        | ItemStatus::Donated
        | ItemStatus::Recycled => DisposalRoute {
            transition: "recycle",
            leaves_lot: false,
        },
    }
}

/// The kind of a sanitisation tool's report, recognised from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// A PDF certificate.
    Pdf,
    /// A text log (nwipe), UTF-8 without NUL bytes.
    Log,
}

impl ReportKind {
    /// Recognises a report: a PDF from its magic bytes, otherwise non-empty UTF-8 text.
    pub fn sniff(bytes: &[u8]) -> Option<ReportKind> {
        if bytes.starts_with(b"%PDF-") {
            Some(ReportKind::Pdf)
        } else if !bytes.is_empty() && !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok() {
            Some(ReportKind::Log)
        } else {
            None
        }
    }

    /// The file extension it is stored with.
    pub fn extension(self) -> &'static str {
        match self {
            ReportKind::Pdf => "pdf",
            ReportKind::Log => "log",
        }
    }

    /// The content type it is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportKind::Pdf => "application/pdf",
            ReportKind::Log => "text/plain; charset=utf-8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_764_000_000 + minute * 60, 0).expect("time")
    }

    fn attempt(
        medium: &str,
        method: SanitisationMethod,
        success: bool,
        minute: i64,
    ) -> MediumAttempt<'_> {
        MediumAttempt {
            medium_serial: medium,
            method,
            success,
            ended_at: at(minute),
        }
    }

    #[test]
    fn a_failed_wipe_blocks_until_a_later_success() {
        use SanitisationMethod::*;
        let s1 = ["S1"];
        assert!(!storage_sanitised(&s1, &[]));
        assert!(!storage_sanitised(&s1, &[attempt("S1", Purge, false, 1)]));
        assert!(storage_sanitised(
            &s1,
            &[
                attempt("S1", Purge, false, 1),
                attempt("S1", Purge, true, 2)
            ]
        ));
        assert!(!storage_sanitised(
            &s1,
            &[
                attempt("S1", Purge, true, 1),
                attempt("S1", Purge, false, 2)
            ]
        ));
    }

    #[test]
    fn every_declared_medium_counts_and_clear_is_not_enough() {
        use SanitisationMethod::*;
        let both = ["S1", "S2"];
        assert!(!storage_sanitised(
            &both,
            &[
                attempt("S1", Purge, true, 1),
                attempt("S2", Purge, false, 2)
            ]
        ));
        assert!(storage_sanitised(
            &both,
            &[
                attempt("S1", Purge, true, 1),
                attempt("S2", CryptoErase, true, 2)
            ]
        ));
        assert!(!storage_sanitised(
            &["S1"],
            &[attempt("S1", Clear, true, 1)]
        ));
        assert!(storage_sanitised(
            &["S1"],
            &[attempt("S1", Destroy, true, 1)]
        ));
        assert_eq!(
            medium_state("S1", &[attempt("S1", Clear, true, 1)]),
            MediumState::NotSufficient
        );
    }

    #[test]
    fn one_wiped_disk_does_not_pass_a_two_disk_machine() {
        use SanitisationMethod::*;
        let wiped_one = [attempt("S1", Purge, true, 1)];
        assert!(!storage_sanitised(&["S1", "S2"], &wiped_one));
        assert_eq!(medium_state("S2", &wiped_one), MediumState::NotSanitised);
        // Nothing declared: no wipe proves the storage clean.
        assert!(!storage_sanitised(&[], &wiped_one));
        // A wipe of an undeclared disk does not stand for a declared one.
        assert!(!storage_sanitised(
            &["S2"],
            &[attempt("S9", Purge, true, 1)]
        ));
    }

    #[test]
    fn serials_compare_trimmed_and_case_blind() {
        use SanitisationMethod::*;
        assert!(storage_sanitised(
            &[" s1ab "],
            &[attempt("S1AB", Purge, true, 1)]
        ));
        let mut errors = FieldErrors::new();
        check_media(["S1", " s1 ", ""], "storage_media", &mut errors);
        let fields: Vec<_> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["storage_media[1].serial", "storage_media[2].serial"]
        );
        let mut errors = FieldErrors::new();
        let many: Vec<String> = (0..=MAX_MEDIA).map(|i| format!("S{i}")).collect();
        check_media(
            many.iter().map(String::as_str),
            "storage_media",
            &mut errors,
        );
        assert_eq!(errors.0.len(), 1);
    }

    #[test]
    fn bsdd_numbers_are_codes() {
        assert!(parse_bsdd("BSD-20261129-ABCD1234").is_ok());
        assert_eq!(parse_bsdd("BSD 2026/11"), Err(Invalid::InvalidFormat));
    }

    #[test]
    fn grades_round_trip_and_nothing_else_parses() {
        for g in [Grade::A, Grade::B, Grade::C] {
            assert_eq!(parse_grade(grade_as_str(g)), Some(g));
        }
        assert_eq!(parse_grade("D"), None);
        assert_eq!(parse_grade("a"), None);
    }

    #[test]
    fn from_every_status_the_bench_and_disposal_rules_answer() {
        for s in ItemStatus::ALL {
            let on_bench = matches!(s, ItemStatus::Collected | ItemStatus::Refurbished);
            assert_eq!(accepts_sanitisation(s), on_bench, "{s:?}");
            assert_eq!(
                bench_result(s) == BenchResult::Regrade,
                s == ItemStatus::Refurbished,
                "{s:?}"
            );
            let route = disposal_route(s);
            assert_eq!(route.leaves_lot, s == ItemStatus::Inventoried, "{s:?}");
            // The route names a transition of the table that leads to `recycled`.
            let t = crate::lifecycle::transition(route.transition).expect("in the table");
            assert_eq!(t.to, ItemStatus::Recycled);
        }
    }

    #[test]
    fn a_collected_device_recycled_stays_in_its_lot() {
        let route = disposal_route(ItemStatus::Collected);
        assert_eq!(route.transition, "recycle");
        assert!(!route.leaves_lot);
    }

    #[test]
    fn reports_are_pdfs_or_text_logs() {
        assert_eq!(ReportKind::sniff(b"%PDF-1.7 ..."), Some(ReportKind::Pdf));
        assert_eq!(ReportKind::sniff(b"nwipe: wiped"), Some(ReportKind::Log));
        assert_eq!(ReportKind::sniff(b""), None);
        assert_eq!(ReportKind::sniff(b"a\0b"), None);
        assert_eq!(ReportKind::sniff(&[0xFF, 0xFE, 0x41]), None);
    }
}
