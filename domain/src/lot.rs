//! Lots: devices of one public body offered together to refurbishers, how they are allocated,
//! who may see them, and who may claim them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::geo::Coordinates;
use crate::organisation::{Actor, Allowed, OrganisationKind, Role};

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

/// Who owns the devices after collection (CG3P L3212-2: a cession, or a service contract).
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

// ---------------------------------------------------------------------------------------------
// The life cycles of a lot and of a claim, as declarative tables.
// ---------------------------------------------------------------------------------------------

const BOTH_ROLES: &[Role] = &Role::ALL;
const PUBLIC_BODY: Allowed = Allowed {
    kinds: &[OrganisationKind::PublicBody],
    roles: BOTH_ROLES,
};
const REFURBISHER: Allowed = Allowed {
    kinds: &[OrganisationKind::Refurbisher],
    roles: BOTH_ROLES,
};
const SUPPLY_PARTIES: Allowed = Allowed {
    kinds: &[OrganisationKind::PublicBody, OrganisationKind::Refurbisher],
    roles: BOTH_ROLES,
};

/// A condition a lot transition needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LotPrecondition {
    /// The lot holds at least one device.
    HasDevices,
    /// No claim of the lot was ever accepted: at most one per lot, ever.
    NoAcceptedClaim,
    /// A claim was accepted: it names the refurbisher who collects.
    AcceptedClaim,
}

impl LotPrecondition {
    pub fn code(self) -> &'static str {
        match self {
            LotPrecondition::HasDevices => "has_devices",
            LotPrecondition::NoAcceptedClaim => "no_accepted_claim",
            LotPrecondition::AcceptedClaim => "accepted_claim",
        }
    }
}

/// What a refused move from the wrong state means to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrongState {
    /// The lot's contents or description can no longer change.
    NotEditable,
    /// The lot went to a refurbisher already (or is collected).
    AlreadyAwarded,
    /// Any other move that does not leave this state.
    InvalidTransition,
}

/// One row of the lot table. `to: None` is a change that keeps the status (editing the lot).
#[derive(Debug, Clone, Copy)]
pub struct LotTransition {
    pub name: &'static str,
    pub from: &'static [LotStatus],
    pub to: Option<LotStatus>,
    pub allowed: Allowed,
    pub preconditions: &'static [LotPrecondition],
    /// How a refusal from another state is reported.
    pub elsewhere: WrongState,
}

use LotPrecondition as LP;
use LotStatus as L;

/// The life cycle of a lot: draft → published → awarded → collected, or withdrawn before award.
pub const LOT_TRANSITIONS: &[LotTransition] = &[
    LotTransition {
        name: "update",
        from: &[L::Draft],
        to: None,
        allowed: PUBLIC_BODY,
        preconditions: &[],
        elsewhere: WrongState::NotEditable,
    },
    LotTransition {
        name: "add_items",
        from: &[L::Draft, L::Published],
        to: None,
        allowed: PUBLIC_BODY,
        preconditions: &[],
        elsewhere: WrongState::NotEditable,
    },
    LotTransition {
        name: "remove_item",
        from: &[L::Draft, L::Published],
        to: None,
        allowed: PUBLIC_BODY,
        preconditions: &[],
        elsewhere: WrongState::NotEditable,
    },
    LotTransition {
        name: "publish",
        from: &[L::Draft],
        to: Some(L::Published),
        allowed: PUBLIC_BODY,
        preconditions: &[LP::HasDevices],
        elsewhere: WrongState::InvalidTransition,
    },
    LotTransition {
        name: "withdraw",
        from: &[L::Draft, L::Published],
        to: Some(L::Withdrawn),
        allowed: PUBLIC_BODY,
        preconditions: &[],
        elsewhere: WrongState::InvalidTransition,
    },
    LotTransition {
        name: "receive_claim",
        from: &[L::Published],
        to: None,
        allowed: REFURBISHER,
        preconditions: &[],
        elsewhere: WrongState::AlreadyAwarded,
    },
    LotTransition {
        // By the body accepting a claim, or by the platform on a first-come claimant's behalf.
        name: "award",
        from: &[L::Published],
        to: Some(L::Awarded),
        allowed: PUBLIC_BODY,
        preconditions: &[LP::NoAcceptedClaim],
        elsewhere: WrongState::AlreadyAwarded,
    },
    LotTransition {
        name: "collect",
        from: &[L::Awarded],
        to: Some(L::Collected),
        allowed: SUPPLY_PARTIES,
        preconditions: &[LP::AcceptedClaim],
        elsewhere: WrongState::InvalidTransition,
    },
];

/// What is known of a lot when one of its transitions is attempted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LotFacts {
    pub has_devices: bool,
    pub accepted_claim: bool,
}

impl LotFacts {
    fn holds(self, p: LotPrecondition) -> bool {
        match p {
            LotPrecondition::HasDevices => self.has_devices,
            LotPrecondition::NoAcceptedClaim => !self.accepted_claim,
            LotPrecondition::AcceptedClaim => self.accepted_claim,
        }
    }
}

/// Why a transition of the lot or claim table was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal<S, P> {
    /// No transition has this name.
    Unknown,
    /// The transition does not leave the current state.
    NotFromHere {
        transition: &'static str,
        from: S,
        reason: WrongState,
    },
    /// The actor's organisation kind or role may not fire it.
    NotAllowed { transition: &'static str },
    /// Preconditions that do not hold, all of them.
    Unmet {
        transition: &'static str,
        preconditions: Vec<P>,
    },
}

/// A refusal of the lot table.
pub type LotRefusal = Refusal<LotStatus, LotPrecondition>;

/// The lot transition named `name`.
pub fn lot_transition(name: &str) -> Option<&'static LotTransition> {
    LOT_TRANSITIONS.iter().find(|t| t.name == name)
}

/// Fires `name` on a lot in `from`: the status it ends in, or why not. `actor` is `None` for the
/// platform itself (a first-come award done on the claimant's behalf).
pub fn fire_lot(
    name: &str,
    from: LotStatus,
    actor: Option<Actor>,
    facts: LotFacts,
) -> Result<LotStatus, LotRefusal> {
    let t = lot_transition(name).ok_or(Refusal::Unknown)?;
    if !t.from.contains(&from) {
        return Err(Refusal::NotFromHere {
            transition: t.name,
            from,
            reason: t.elsewhere,
        });
    }
    if let Some(actor) = actor
        && !t.allowed.permits(actor)
    {
        return Err(Refusal::NotAllowed { transition: t.name });
    }
    let unmet: Vec<LotPrecondition> = t
        .preconditions
        .iter()
        .copied()
        .filter(|p| !facts.holds(*p))
        .collect();
    if !unmet.is_empty() {
        return Err(Refusal::Unmet {
            transition: t.name,
            preconditions: unmet,
        });
    }
    Ok(t.to.unwrap_or(from))
}

/// A condition a claim transition needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimPrecondition {
    /// With `selection`, the body chooses only once the claim deadline has passed, among every
    /// claim received until then.
    SelectionClosed,
}

impl ClaimPrecondition {
    pub fn code(self) -> &'static str {
        match self {
            ClaimPrecondition::SelectionClosed => "claim_deadline_not_passed",
        }
    }
}

/// One row of the claim table.
#[derive(Debug, Clone, Copy)]
pub struct ClaimTransition {
    pub name: &'static str,
    pub from: &'static [ClaimStatus],
    pub to: ClaimStatus,
    pub allowed: Allowed,
    pub preconditions: &'static [ClaimPrecondition],
}

use ClaimStatus as C;

/// The life cycle of a claim: pending, then accepted, rejected or withdrawn (all final).
pub const CLAIM_TRANSITIONS: &[ClaimTransition] = &[
    ClaimTransition {
        // By the body, or by the platform on a first-come claimant's behalf.
        name: "accept",
        from: &[C::Pending],
        to: C::Accepted,
        allowed: PUBLIC_BODY,
        preconditions: &[ClaimPrecondition::SelectionClosed],
    },
    ClaimTransition {
        name: "reject",
        from: &[C::Pending],
        to: C::Rejected,
        allowed: PUBLIC_BODY,
        preconditions: &[],
    },
    ClaimTransition {
        name: "withdraw",
        from: &[C::Pending],
        to: C::Withdrawn,
        allowed: REFURBISHER,
        preconditions: &[],
    },
    ClaimTransition {
        // The other pending claims, when the lot is awarded or withdrawn.
        name: "set_aside",
        from: &[C::Pending],
        to: C::Rejected,
        allowed: PUBLIC_BODY,
        preconditions: &[],
    },
];

/// What is known of a claim's lot when a claim transition is attempted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimFacts {
    /// See [`selection_closed`].
    pub selection_closed: bool,
}

/// A refusal of the claim table.
pub type ClaimTableRefusal = Refusal<ClaimStatus, ClaimPrecondition>;

/// The claim transition named `name`.
pub fn claim_transition(name: &str) -> Option<&'static ClaimTransition> {
    CLAIM_TRANSITIONS.iter().find(|t| t.name == name)
}

/// Fires `name` on a claim in `from`: its new status, or why not.
pub fn fire_claim(
    name: &str,
    from: ClaimStatus,
    actor: Option<Actor>,
    facts: ClaimFacts,
) -> Result<ClaimStatus, ClaimTableRefusal> {
    let t = claim_transition(name).ok_or(Refusal::Unknown)?;
    if !t.from.contains(&from) {
        return Err(Refusal::NotFromHere {
            transition: t.name,
            from,
            reason: WrongState::InvalidTransition,
        });
    }
    if let Some(actor) = actor
        && !t.allowed.permits(actor)
    {
        return Err(Refusal::NotAllowed { transition: t.name });
    }
    let unmet: Vec<ClaimPrecondition> = t
        .preconditions
        .iter()
        .copied()
        .filter(|p| match p {
            ClaimPrecondition::SelectionClosed => !facts.selection_closed,
        })
        .collect();
    if !unmet.is_empty() {
        return Err(Refusal::Unmet {
            transition: t.name,
            preconditions: unmet,
        });
    }
    Ok(t.to)
}

impl ClaimStatus {
    /// Whether the claim is decided for good.
    pub fn is_final(self) -> bool {
        match self {
            ClaimStatus::Pending => false,
            ClaimStatus::Accepted | ClaimStatus::Rejected | ClaimStatus::Withdrawn => true,
        }
    }

    /// Whether the claim still ties its refurbisher to the lot (so it may read it and its
    /// devices): a pending or accepted claim; a rejected or withdrawn one no longer does.
    pub fn relates_to_lot(self) -> bool {
        match self {
            ClaimStatus::Pending | ClaimStatus::Accepted => true,
            ClaimStatus::Rejected | ClaimStatus::Withdrawn => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Allocation rules.
// ---------------------------------------------------------------------------------------------

/// Whether a claim is accepted the moment it is made: `first_come` with automatic acceptance.
pub fn accepted_at_once(policy: AllocationPolicy, auto_accept: bool) -> bool {
    match policy {
        AllocationPolicy::FirstCome => auto_accept,
        AllocationPolicy::Selection => false,
    }
}

/// Whether the body may now choose a claim: always with `first_come`; with `selection` only once
/// the claim deadline has passed (claims are received until that day, included).
pub fn selection_closed(
    policy: AllocationPolicy,
    claim_deadline: Option<NaiveDate>,
    today: NaiveDate,
) -> bool {
    match policy {
        AllocationPolicy::FirstCome => true,
        AllocationPolicy::Selection => claim_deadline.is_none_or(|d| today > d),
    }
}

/// Whether a refurbisher may read a lot (and its devices): its claim on the lot is pending or
/// accepted, or the lot is published and visible to it now.
pub fn refurbisher_reads_lot(
    status: LotStatus,
    claim: Option<ClaimStatus>,
    visible_now: bool,
) -> bool {
    claim.is_some_and(ClaimStatus::relates_to_lot)
        || (status == LotStatus::Published && visible_now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Option<Actor> {
        Some(Actor {
            kind: OrganisationKind::PublicBody,
            role: Role::Agent,
        })
    }

    fn refurbisher() -> Option<Actor> {
        Some(Actor {
            kind: OrganisationKind::Refurbisher,
            role: Role::Admin,
        })
    }

    #[test]
    fn every_lot_transition_is_tried_from_every_state() {
        let facts = LotFacts {
            has_devices: true,
            accepted_claim: false,
        };
        for t in LOT_TRANSITIONS {
            for from in LotStatus::ALL {
                let facts = LotFacts {
                    accepted_claim: t.name == "collect",
                    ..facts
                };
                let actor = if t.allowed.kinds.contains(&OrganisationKind::PublicBody) {
                    body()
                } else {
                    refurbisher()
                };
                let got = fire_lot(t.name, from, actor, facts);
                if t.from.contains(&from) {
                    assert_eq!(got, Ok(t.to.unwrap_or(from)), "{} from {from:?}", t.name);
                } else {
                    assert_eq!(
                        got,
                        Err(Refusal::NotFromHere {
                            transition: t.name,
                            from,
                            reason: t.elsewhere
                        }),
                        "{} from {from:?}",
                        t.name
                    );
                }
            }
        }
        assert_eq!(
            fire_lot("sell", LotStatus::Draft, body(), facts),
            Err(Refusal::Unknown)
        );
    }

    #[test]
    fn a_lot_goes_draft_published_awarded_collected_and_nothing_leaves_the_end_states() {
        let mut facts = LotFacts {
            has_devices: true,
            accepted_claim: false,
        };
        let s = fire_lot("publish", LotStatus::Draft, body(), facts).expect("publish");
        let s = fire_lot("award", s, None, facts).expect("award");
        facts.accepted_claim = true;
        let s = fire_lot("collect", s, refurbisher(), facts).expect("collect");
        assert_eq!(s, LotStatus::Collected);
        for end in [LotStatus::Collected, LotStatus::Withdrawn] {
            assert!(
                LOT_TRANSITIONS.iter().all(|t| !t.from.contains(&end)),
                "{end:?} is final"
            );
        }
    }

    #[test]
    fn an_empty_lot_is_not_published_and_a_second_award_is_refused() {
        let empty = LotFacts::default();
        assert_eq!(
            fire_lot("publish", LotStatus::Draft, body(), empty),
            Err(Refusal::Unmet {
                transition: "publish",
                preconditions: vec![LotPrecondition::HasDevices]
            })
        );
        let awarded_once = LotFacts {
            has_devices: true,
            accepted_claim: true,
        };
        assert_eq!(
            fire_lot("award", LotStatus::Published, body(), awarded_once),
            Err(Refusal::Unmet {
                transition: "award",
                preconditions: vec![LotPrecondition::NoAcceptedClaim]
            })
        );
        assert_eq!(
            fire_lot("award", LotStatus::Awarded, body(), LotFacts::default()),
            Err(Refusal::NotFromHere {
                transition: "award",
                from: LotStatus::Awarded,
                reason: WrongState::AlreadyAwarded
            })
        );
    }

    #[test]
    fn only_the_body_manages_its_lot_and_only_refurbishers_claim() {
        let facts = LotFacts {
            has_devices: true,
            accepted_claim: false,
        };
        assert_eq!(
            fire_lot("publish", LotStatus::Draft, refurbisher(), facts),
            Err(Refusal::NotAllowed {
                transition: "publish"
            })
        );
        assert_eq!(
            fire_lot("receive_claim", LotStatus::Published, body(), facts),
            Err(Refusal::NotAllowed {
                transition: "receive_claim"
            })
        );
        assert_eq!(
            fire_lot("receive_claim", LotStatus::Published, refurbisher(), facts),
            Ok(LotStatus::Published)
        );
    }

    #[test]
    fn every_claim_transition_is_tried_from_every_state() {
        let open = ClaimFacts {
            selection_closed: true,
        };
        for t in CLAIM_TRANSITIONS {
            for from in ClaimStatus::ALL {
                let actor = if t.allowed.kinds.contains(&OrganisationKind::PublicBody) {
                    body()
                } else {
                    refurbisher()
                };
                let got = fire_claim(t.name, from, actor, open);
                if t.from.contains(&from) {
                    assert_eq!(got, Ok(t.to), "{} from {from:?}", t.name);
                } else {
                    assert_eq!(
                        got,
                        Err(Refusal::NotFromHere {
                            transition: t.name,
                            from,
                            reason: WrongState::InvalidTransition
                        })
                    );
                }
            }
        }
        for s in ClaimStatus::ALL {
            let exits = CLAIM_TRANSITIONS.iter().any(|t| t.from.contains(&s));
            assert_eq!(exits, !s.is_final(), "{s:?}");
        }
        assert_eq!(
            fire_claim("withdraw", ClaimStatus::Pending, body(), open),
            Err(Refusal::NotAllowed {
                transition: "withdraw"
            })
        );
        assert_eq!(
            fire_claim("undo", ClaimStatus::Pending, body(), open),
            Err(Refusal::Unknown)
        );
    }

    #[test]
    fn a_selection_claim_is_accepted_only_after_the_claim_deadline() {
        let deadline = Some(date(2026, 12, 5));
        for (today, closed) in [
            (date(2026, 11, 29), false),
            (date(2026, 12, 5), false),
            (date(2026, 12, 6), true),
        ] {
            assert_eq!(
                selection_closed(AllocationPolicy::Selection, deadline, today),
                closed,
                "{today}"
            );
            let got = fire_claim(
                "accept",
                ClaimStatus::Pending,
                body(),
                ClaimFacts {
                    selection_closed: closed,
                },
            );
            if closed {
                assert_eq!(got, Ok(ClaimStatus::Accepted));
            } else {
                assert_eq!(
                    got,
                    Err(Refusal::Unmet {
                        transition: "accept",
                        preconditions: vec![ClaimPrecondition::SelectionClosed]
                    })
                );
            }
        }
        assert!(selection_closed(
            AllocationPolicy::FirstCome,
            None,
            date(2026, 11, 29)
        ));
        // Claims are received until the deadline, included: the two windows do not overlap.
        for today in [date(2026, 12, 5), date(2026, 12, 6)] {
            let claimable = check_claim(
                CessionMode::Service,
                AllocationPolicy::Selection,
                deadline,
                None,
                None,
                today,
            )
            .is_ok();
            assert_ne!(
                claimable,
                selection_closed(AllocationPolicy::Selection, deadline, today)
            );
        }
    }

    #[test]
    fn first_come_with_auto_accept_is_the_only_immediate_acceptance() {
        assert!(accepted_at_once(AllocationPolicy::FirstCome, true));
        assert!(!accepted_at_once(AllocationPolicy::FirstCome, false));
        assert!(!accepted_at_once(AllocationPolicy::Selection, true));
        assert!(!accepted_at_once(AllocationPolicy::Selection, false));
    }

    #[test]
    fn only_a_pending_or_accepted_claim_lets_a_refurbisher_read_a_lot() {
        use ClaimStatus as C;
        for status in LotStatus::ALL {
            for claim in [
                None,
                Some(C::Pending),
                Some(C::Accepted),
                Some(C::Rejected),
                Some(C::Withdrawn),
            ] {
                for visible in [false, true] {
                    let expected = matches!(claim, Some(C::Pending | C::Accepted))
                        || (status == LotStatus::Published && visible);
                    assert_eq!(
                        refurbisher_reads_lot(status, claim, visible),
                        expected,
                        "{status:?} {claim:?} {visible}"
                    );
                }
            }
        }
    }

    #[test]
    fn unknown_stored_statuses_do_not_parse() {
        assert_eq!(LotStatus::parse("sold"), None);
        assert_eq!(ClaimStatus::parse("handed_over"), None);
        assert_eq!(AllocationPolicy::parse("auction"), None);
        for s in LotStatus::ALL {
            assert_eq!(LotStatus::parse(s.as_str()), Some(s));
        }
        for s in ClaimStatus::ALL {
            assert_eq!(ClaimStatus::parse(s.as_str()), Some(s));
        }
    }

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
