//! Lots: devices of one public body offered together to refurbishers, how they are allocated,
//! who may see them, and who may claim them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::geo::Coordinates;

/// Where a lot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LotStatus {
    /// Being prepared by the public body; invisible to refurbishers.
    Draft,
    /// Offered to refurbishers.
    Published,
    /// A claim was accepted; waiting for collection.
    Awarded,
    /// Collected by the refurbisher.
    Collected,
    /// Withdrawn by the public body; its devices went back to the inventory.
    Withdrawn,
}

impl LotStatus {
    pub const ALL: [LotStatus; 5] = [
        LotStatus::Draft,
        LotStatus::Published,
        LotStatus::Awarded,
        LotStatus::Collected,
        LotStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LotStatus::Draft => "draft",
            LotStatus::Published => "published",
            LotStatus::Awarded => "awarded",
            LotStatus::Collected => "collected",
            LotStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether its devices may still be added or removed.
    pub fn is_editable(self) -> bool {
        matches!(self, LotStatus::Draft | LotStatus::Published)
    }
}

/// How the refurbisher is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationPolicy {
    /// The first claim wins (accepted at once unless the body turned that off).
    FirstCome,
    /// The body selects among the claims received before the claim deadline.
    Selection,
}

/// Who may see and claim a published lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Every verified refurbisher.
    AllVerified,
    /// The body's declared partners.
    Partners,
    /// Refurbishers within `radius_km` of the pickup site.
    RadiusKm,
}

/// Who owns the devices after collection (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CessionMode {
    /// Ownership passes to the refurbisher (an ESUS re-use organisation) at collection.
    ToRefurbisher,
    /// The body stays owner; the refurbisher works as a service; the cession is to the association.
    Service,
}

/// Where a claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatus {
    Pending,
    Accepted,
    Rejected,
    Withdrawn,
}

impl ClaimStatus {
    pub const ALL: [ClaimStatus; 4] = [
        ClaimStatus::Pending,
        ClaimStatus::Accepted,
        ClaimStatus::Rejected,
        ClaimStatus::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClaimStatus::Pending => "pending",
            ClaimStatus::Accepted => "accepted",
            ClaimStatus::Rejected => "rejected",
            ClaimStatus::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

macro_rules! str_enum {
    ($t:ident { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$($t::$v),*];

            pub fn as_str(self) -> &'static str {
                match self { $($t::$v => $s),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.as_str() == s)
            }
        }
    };
}

str_enum!(AllocationPolicy { FirstCome => "first_come", Selection => "selection" });
str_enum!(Visibility { AllVerified => "all_verified", Partners => "partners", RadiusKm => "radius_km" });
str_enum!(CessionMode { ToRefurbisher => "to_refurbisher", Service => "service" });

/// What decides whether a refurbisher sees a published lot.
#[derive(Debug, Clone, Copy)]
pub struct LotAudience {
    pub visibility: Visibility,
    pub radius_km: Option<i32>,
    pub pickup: Option<Coordinates>,
}

/// What is known of a refurbisher looking at lots.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub verified: bool,
    pub is_partner: bool,
    /// The refurbisher's seat and workshops.
    pub places: Vec<Coordinates>,
}

/// Whether `viewer` may see (and so claim) a published lot.
pub fn visible_to(lot: &LotAudience, viewer: &Viewer) -> bool {
    if !viewer.verified {
        return false;
    }
    match lot.visibility {
        Visibility::AllVerified => true,
        Visibility::Partners => viewer.is_partner,
        Visibility::RadiusKm => match (lot.pickup, lot.radius_km) {
            (Some(pickup), Some(km)) => viewer
                .places
                .iter()
                .any(|p| p.distance_km(&pickup) <= f64::from(km)),
            _ => false,
        },
    }
}

/// Why a refurbisher may not claim a lot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    /// In `to_refurbisher` mode the refurbisher must hold a valid ESUS accreditation (CG3P
    /// L3212-2 3°: only ESUS re-use organisations may receive the devices).
    EsusRequired,
    /// Its ESUS accreditation expired.
    EsusExpired,
    /// The claim deadline of a `selection` lot has passed.
    DeadlinePassed,
}

impl ClaimRefusal {
    pub fn code(self) -> &'static str {
        match self {
            ClaimRefusal::EsusRequired => "esus_required",
            ClaimRefusal::EsusExpired => "esus_expired",
            ClaimRefusal::DeadlinePassed => "claim_deadline_passed",
        }
    }

    pub fn message_fr(self) -> &'static str {
        match self {
            ClaimRefusal::EsusRequired => {
                "En cession au reconditionneur, seule une structure de réemploi agréée ESUS peut recevoir le matériel (CG3P L3212-2 3°)."
            }
            ClaimRefusal::EsusExpired => "L'agrément ESUS de la structure a expiré.",
            ClaimRefusal::DeadlinePassed => "La date limite de candidature de ce lot est passée.",
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            ClaimRefusal::EsusRequired => {
                "When devices are ceded to the refurbisher, only an ESUS-accredited re-use organisation may receive them (CG3P L3212-2 3°)."
            }
            ClaimRefusal::EsusExpired => "The organisation's ESUS accreditation has expired.",
            ClaimRefusal::DeadlinePassed => "The claim deadline of this lot has passed.",
        }
    }
}

/// Checks that a refurbisher may claim a lot.
pub fn check_claim(
    mode: CessionMode,
    policy: AllocationPolicy,
    claim_deadline: Option<NaiveDate>,
    esus_reference: Option<&str>,
    esus_expires_on: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<(), ClaimRefusal> {
    if policy == AllocationPolicy::Selection && claim_deadline.is_some_and(|d| today > d) {
        return Err(ClaimRefusal::DeadlinePassed);
    }
    match mode {
        CessionMode::Service => Ok(()),
        CessionMode::ToRefurbisher => match (
            esus_reference.filter(|r| !r.trim().is_empty()),
            esus_expires_on,
        ) {
            (None, _) => Err(ClaimRefusal::EsusRequired),
            (Some(_), Some(expiry)) if expiry < today => Err(ClaimRefusal::EsusExpired),
            (Some(_), _) => Ok(()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn radius_visibility_measures_from_the_pickup_site() {
        let blois = Coordinates::parse(47.5861, 1.3359).expect("coords");
        let tours = Coordinates::parse(47.3941, 0.6848).expect("coords");
        let lot = LotAudience {
            visibility: Visibility::RadiusKm,
            radius_km: Some(50),
            pickup: Some(blois),
        };
        let near = Viewer {
            verified: true,
            is_partner: false,
            places: vec![blois],
        };
        let far = Viewer {
            verified: true,
            is_partner: false,
            places: vec![tours],
        };
        assert!(visible_to(&lot, &near));
        assert!(!visible_to(&lot, &far));
        assert!(!visible_to(
            &lot,
            &Viewer {
                verified: false,
                ..near.clone()
            }
        ));
        assert!(!visible_to(
            &lot,
            &Viewer {
                places: vec![],
                ..near
            }
        ));
    }

    #[test]
    fn only_partners_see_partner_lots() {
        let lot = LotAudience {
            visibility: Visibility::Partners,
            radius_km: None,
            pickup: None,
        };
        assert!(visible_to(
            &lot,
            &Viewer {
                verified: true,
                is_partner: true,
                places: vec![]
            }
        ));
        assert!(!visible_to(
            &lot,
            &Viewer {
                verified: true,
                is_partner: false,
                places: vec![]
            }
        ));
    }

    #[test]
    fn cession_to_a_refurbisher_needs_a_valid_esus_accreditation() {
        let today = date(2026, 11, 29);
        let claim = |reference, expiry| {
            check_claim(
                CessionMode::ToRefurbisher,
                AllocationPolicy::FirstCome,
                None,
                reference,
                expiry,
                today,
            )
        };
        assert_eq!(claim(None, None), Err(ClaimRefusal::EsusRequired));
        assert_eq!(
            claim(Some("ESUS-1"), Some(date(2026, 1, 1))),
            Err(ClaimRefusal::EsusExpired)
        );
        assert_eq!(claim(Some("ESUS-1"), Some(date(2029, 1, 1))), Ok(()));
        assert_eq!(
            check_claim(
                CessionMode::Service,
                AllocationPolicy::FirstCome,
                None,
                None,
                None,
                today
            ),
            Ok(())
        );
        assert_eq!(
            check_claim(
                CessionMode::Service,
                AllocationPolicy::Selection,
                Some(date(2026, 11, 1)),
                None,
                None,
                today
            ),
            Err(ClaimRefusal::DeadlinePassed)
        );
    }
}
