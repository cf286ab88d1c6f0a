//! The life cycle of a device as one declarative table (`docs/architecture.md`): each transition has a name,
//! the states it leaves, the state it reaches, who may fire it and its preconditions. Handlers
//! never set a status: they ask [`fire`]. The table also renders as a Mermaid diagram.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::organisation::{Actor, Allowed, OrganisationKind, Role};

/// Where a device is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Inventoried,
    Listed,
    Awarded,
    Collected,
    Refurbished,
    Available,
    Reserved,
    Donated,
    Recycled,
}

impl ItemStatus {
    pub const ALL: [ItemStatus; 9] = [
        ItemStatus::Inventoried,
        ItemStatus::Listed,
        ItemStatus::Awarded,
        ItemStatus::Collected,
        ItemStatus::Refurbished,
        ItemStatus::Available,
        ItemStatus::Reserved,
        ItemStatus::Donated,
        ItemStatus::Recycled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Inventoried => "inventoried",
            ItemStatus::Listed => "listed",
            ItemStatus::Awarded => "awarded",
            ItemStatus::Collected => "collected",
            ItemStatus::Refurbished => "refurbished",
            ItemStatus::Available => "available",
            ItemStatus::Reserved => "reserved",
            ItemStatus::Donated => "donated",
            ItemStatus::Recycled => "recycled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// French label, for the public history and documents.
    pub fn label_fr(self) -> &'static str {
        match self {
            ItemStatus::Inventoried => "Inventorié",
            ItemStatus::Listed => "Proposé dans un lot",
            ItemStatus::Awarded => "Attribué à un reconditionneur",
            ItemStatus::Collected => "Enlevé par le reconditionneur",
            ItemStatus::Refurbished => "Reconditionné",
            ItemStatus::Available => "Disponible au catalogue",
            ItemStatus::Reserved => "Réservé",
            ItemStatus::Donated => "Donné",
            ItemStatus::Recycled => "Recyclé",
        }
    }

    /// Final states have no exit.
    pub fn is_final(self) -> bool {
        matches!(self, ItemStatus::Donated | ItemStatus::Recycled)
    }
}

/// A refurbished device's cosmetic and functional grade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Grade {
    A,
    B,
    C,
}

/// A condition that must hold for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precondition {
    /// The lot has an accepted claim.
    AcceptedClaim,
    /// A handover was signed by both parties.
    SignedHandover,
    /// A grade was recorded.
    GradeRecorded,
    /// The device declares its storage media (when it has storage).
    StorageMediaDeclared,
    /// Every declared storage medium has a successful sanitisation record (when the device has
    /// storage).
    StorageSanitised,
    /// The device is at most 10 years old (older devices go to recycling, loi REEN art. 16).
    AtMostTenYearsOld,
    /// The beneficiary is eligible (CG3P L3212-2).
    EligibleBeneficiary,
}

impl Precondition {
    pub fn code(self) -> &'static str {
        match self {
            Precondition::AcceptedClaim => "accepted_claim",
            Precondition::SignedHandover => "signed_handover",
            Precondition::GradeRecorded => "grade_recorded",
            Precondition::StorageMediaDeclared => "storage_media_declared",
            Precondition::StorageSanitised => "storage_sanitised",
            Precondition::AtMostTenYearsOld => "at_most_ten_years_old",
            Precondition::EligibleBeneficiary => "eligible_beneficiary",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Transition {
    pub name: &'static str,
    pub from: &'static [ItemStatus],
    pub to: ItemStatus,
    pub allowed: Allowed,
    pub preconditions: &'static [Precondition],
    /// What the transition means, in French, for the public history.
    pub label_fr: &'static str,
}

use ItemStatus as S;
use OrganisationKind as K;
use Precondition as P;

const BOTH_ROLES: &[Role] = &Role::ALL;
const PUBLIC_BODY: Allowed = Allowed {
    kinds: &[K::PublicBody],
    roles: BOTH_ROLES,
};
const REFURBISHER: Allowed = Allowed {
    kinds: &[K::Refurbisher],
    roles: BOTH_ROLES,
};
const ASSOCIATION: Allowed = Allowed {
    kinds: &[K::Association],
    roles: BOTH_ROLES,
};
const SUPPLY_PARTIES: Allowed = Allowed {
    kinds: &[K::PublicBody, K::Refurbisher],
    roles: BOTH_ROLES,
};
const DEMAND_PARTIES: Allowed = Allowed {
    kinds: &[K::Refurbisher, K::Association],
    roles: BOTH_ROLES,
};

/// The life cycle of a device.
pub const TRANSITIONS: &[Transition] = &[
    Transition {
        name: "list",
        from: &[S::Inventoried],
        to: S::Listed,
        allowed: PUBLIC_BODY,
        preconditions: &[],
        label_fr: "Proposé dans un lot publié",
    },
    Transition {
        name: "unlist",
        from: &[S::Listed],
        to: S::Inventoried,
        allowed: PUBLIC_BODY,
        preconditions: &[],
        label_fr: "Retiré du lot",
    },
    Transition {
        name: "award",
        from: &[S::Listed],
        to: S::Awarded,
        allowed: SUPPLY_PARTIES,
        preconditions: &[P::AcceptedClaim],
        label_fr: "Attribué à un reconditionneur",
    },
    Transition {
        name: "collect",
        from: &[S::Awarded],
        to: S::Collected,
        allowed: SUPPLY_PARTIES,
        preconditions: &[P::SignedHandover],
        label_fr: "Enlevé par le reconditionneur",
    },
    Transition {
        name: "report_missing",
        from: &[S::Awarded],
        to: S::Inventoried,
        allowed: SUPPLY_PARTIES,
        preconditions: &[],
        label_fr: "Absent lors de l'enlèvement",
    },
    Transition {
        name: "refurbish",
        from: &[S::Collected],
        to: S::Refurbished,
        allowed: REFURBISHER,
        preconditions: &[P::GradeRecorded],
        label_fr: "Testé et reconditionné",
    },
    Transition {
        name: "publish",
        from: &[S::Refurbished],
        to: S::Available,
        allowed: REFURBISHER,
        preconditions: &[
            P::GradeRecorded,
            P::StorageMediaDeclared,
            P::StorageSanitised,
            P::AtMostTenYearsOld,
        ],
        label_fr: "Publié au catalogue",
    },
    Transition {
        name: "unpublish",
        from: &[S::Available],
        to: S::Refurbished,
        allowed: REFURBISHER,
        preconditions: &[],
        label_fr: "Retiré du catalogue",
    },
    Transition {
        name: "reserve",
        from: &[S::Available],
        to: S::Reserved,
        allowed: ASSOCIATION,
        preconditions: &[P::EligibleBeneficiary],
        label_fr: "Réservé par une association",
    },
    Transition {
        name: "release",
        from: &[S::Reserved],
        to: S::Available,
        allowed: DEMAND_PARTIES,
        preconditions: &[],
        label_fr: "Réservation levée",
    },
    Transition {
        name: "donate",
        from: &[S::Reserved],
        to: S::Donated,
        allowed: DEMAND_PARTIES,
        preconditions: &[
            P::SignedHandover,
            P::EligibleBeneficiary,
            P::StorageSanitised,
        ],
        label_fr: "Remis à l'association",
    },
    Transition {
        // A public body's direct cession of a device it owns to its staff (CG3P L3212-2 5°) or
        // to another public body (11°): from its inventory, or refurbished for it in service
        // mode. Data storage must have been wiped, as for any device that leaves for re-use.
        name: "cede",
        from: &[S::Inventoried, S::Refurbished, S::Available],
        to: S::Donated,
        allowed: PUBLIC_BODY,
        preconditions: &[
            P::SignedHandover,
            P::EligibleBeneficiary,
            P::StorageSanitised,
        ],
        label_fr: "Cédé par la personne publique (personnel ou autre personne publique)",
    },
    Transition {
        name: "recycle_inventoried",
        from: &[S::Inventoried],
        to: S::Recycled,
        allowed: PUBLIC_BODY,
        preconditions: &[],
        label_fr: "Envoyé au recyclage",
    },
    Transition {
        name: "recycle",
        from: &[S::Collected, S::Refurbished, S::Available],
        to: S::Recycled,
        allowed: REFURBISHER,
        preconditions: &[],
        label_fr: "Envoyé au recyclage",
    },
];

/// What is known about a device and its context when a transition is attempted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub accepted_claim: bool,
    pub signed_handover: bool,
    pub grade: Option<Grade>,
    pub has_data_storage: bool,
    /// The device declares at least one storage medium.
    pub storage_media_declared: bool,
    /// Every declared storage medium has a successful sanitisation record (and one is declared).
    pub storage_sanitised: bool,
    pub acquisition_date: Option<NaiveDate>,
    pub today: Option<NaiveDate>,
    /// The operator allowed re-use of a device over 10 years old, with a reason.
    pub age_override: bool,
    pub eligible_beneficiary: bool,
}

impl Facts {
    fn holds(&self, p: Precondition) -> bool {
        match p {
            Precondition::AcceptedClaim => self.accepted_claim,
            Precondition::SignedHandover => self.signed_handover,
            Precondition::GradeRecorded => self.grade.is_some(),
            Precondition::StorageMediaDeclared => {
                !self.has_data_storage || self.storage_media_declared
            }
            Precondition::StorageSanitised => !self.has_data_storage || self.storage_sanitised,
            Precondition::AtMostTenYearsOld if self.age_override => true,
            Precondition::AtMostTenYearsOld => match (self.acquisition_date, self.today) {
                (Some(acquired), Some(today)) => !over_ten_years(acquired, today),
                // Unknown age: the device is not refused on that ground.
                _ => true,
            },
            Precondition::EligibleBeneficiary => self.eligible_beneficiary,
        }
    }
}

/// Whether a device acquired on `acquired` is over 10 years old on `today`.
pub fn over_ten_years(acquired: NaiveDate, today: NaiveDate) -> bool {
    acquired
        .checked_add_months(chrono::Months::new(120))
        .is_none_or(|tenth_birthday| tenth_birthday < today)
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No transition has this name.
    Unknown,
    /// The transition does not leave the current state.
    NotFromHere {
        transition: &'static str,
        from: ItemStatus,
    },
    /// The actor's organisation kind or role may not fire it.
    NotAllowed { transition: &'static str },
    /// Preconditions that do not hold, all of them.
    Unmet {
        transition: &'static str,
        preconditions: Vec<Precondition>,
    },
}

/// The transition named `name`.
pub fn transition(name: &str) -> Option<&'static Transition> {
    TRANSITIONS.iter().find(|t| t.name == name)
}

/// Fires `name` from `from`: the new state, or why not. `actor` is `None` for the platform itself
/// (expiry of reservations, first-come awards done on a claimant's behalf).
pub fn fire(
    name: &str,
    from: ItemStatus,
    actor: Option<Actor>,
    facts: &Facts,
) -> Result<ItemStatus, Refusal> {
    let t = transition(name).ok_or(Refusal::Unknown)?;
    if !t.from.contains(&from) {
        return Err(Refusal::NotFromHere {
            transition: t.name,
            from,
        });
    }
    if let Some(actor) = actor
        && !t.allowed.permits(actor)
    {
        return Err(Refusal::NotAllowed { transition: t.name });
    }
    let unmet: Vec<Precondition> = t
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
    Ok(t.to)
}

/// The table as a Mermaid state diagram.
pub fn mermaid() -> String {
    let mut out = String::from("stateDiagram-v2\n    [*] --> inventoried\n");
    for t in TRANSITIONS {
        for from in t.from {
            out.push_str(&format!(
                "    {} --> {}: {}\n",
                from.as_str(),
                t.to.as_str(),
                t.name
            ));
        }
    }
    for s in ItemStatus::ALL.iter().filter(|s| s.is_final()) {
        out.push_str(&format!("    {} --> [*]\n", s.as_str()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn actor(kind: OrganisationKind) -> Option<Actor> {
        Some(Actor {
            kind,
            role: Role::Agent,
        })
    }

    #[test]
    fn final_states_have_no_exit_and_every_other_state_has_one() {
        for s in ItemStatus::ALL {
            let exits = TRANSITIONS.iter().filter(|t| t.from.contains(&s)).count();
            assert_eq!(exits == 0, s.is_final(), "{s:?}");
        }
    }

    #[test]
    fn every_state_is_reachable_from_inventoried() {
        let mut seen = vec![ItemStatus::Inventoried];
        let mut i = 0;
        while i < seen.len() {
            let here = seen[i];
            for t in TRANSITIONS.iter().filter(|t| t.from.contains(&here)) {
                if !seen.contains(&t.to) {
                    seen.push(t.to);
                }
            }
            i += 1;
        }
        assert_eq!(seen.len(), ItemStatus::ALL.len());
    }

    #[test]
    fn publishing_needs_a_grade_and_wiped_storage_and_refuses_old_devices() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 29);
        let mut facts = Facts {
            has_data_storage: true,
            today,
            ..Facts::default()
        };
        let refusal =
            fire("publish", S::Refurbished, actor(K::Refurbisher), &facts).expect_err("refused");
        assert_eq!(
            refusal,
            Refusal::Unmet {
                transition: "publish",
                preconditions: vec![
                    P::GradeRecorded,
                    P::StorageMediaDeclared,
                    P::StorageSanitised
                ]
            }
        );
        facts.grade = Some(Grade::B);
        facts.storage_media_declared = true;
        facts.storage_sanitised = true;
        facts.acquisition_date = NaiveDate::from_ymd_opt(2015, 3, 1);
        let refusal =
            fire("publish", S::Refurbished, actor(K::Refurbisher), &facts).expect_err("too old");
        assert_eq!(
            refusal,
            Refusal::Unmet {
                transition: "publish",
                preconditions: vec![P::AtMostTenYearsOld]
            }
        );
        facts.acquisition_date = NaiveDate::from_ymd_opt(2018, 3, 1);
        assert_eq!(
            fire("publish", S::Refurbished, actor(K::Refurbisher), &facts),
            Ok(S::Available)
        );
    }

    #[test]
    fn the_wrong_kind_of_organisation_cannot_fire_a_transition() {
        let facts = Facts::default();
        assert_eq!(
            fire("list", S::Inventoried, actor(K::Association), &facts),
            Err(Refusal::NotAllowed { transition: "list" })
        );
        assert_eq!(
            fire("list", S::Inventoried, actor(K::PublicBody), &facts),
            Ok(S::Listed)
        );
        assert_eq!(
            fire("list", S::Donated, actor(K::PublicBody), &facts),
            Err(Refusal::NotFromHere {
                transition: "list",
                from: S::Donated
            })
        );
        assert_eq!(
            fire("teleport", S::Donated, None, &facts),
            Err(Refusal::Unknown)
        );
    }

    #[test]
    fn every_transition_is_refused_from_every_state_it_does_not_leave() {
        let everything = Facts {
            accepted_claim: true,
            signed_handover: true,
            grade: Some(Grade::A),
            has_data_storage: false,
            storage_media_declared: true,
            storage_sanitised: true,
            acquisition_date: None,
            today: None,
            age_override: false,
            eligible_beneficiary: true,
        };
        for t in TRANSITIONS {
            for from in ItemStatus::ALL {
                let result = fire(t.name, from, None, &everything);
                if t.from.contains(&from) {
                    assert_eq!(result, Ok(t.to), "{} from {from:?}", t.name);
                } else {
                    assert_eq!(
                        result,
                        Err(Refusal::NotFromHere {
                            transition: t.name,
                            from
                        }),
                        "{} from {from:?}",
                        t.name
                    );
                }
            }
        }
    }

    #[test]
    fn ten_years_is_counted_to_the_day() {
        let acquired = NaiveDate::from_ymd_opt(2016, 11, 29).expect("date");
        assert!(!over_ten_years(
            acquired,
            NaiveDate::from_ymd_opt(2026, 11, 29).expect("date")
        ));
        assert!(over_ten_years(
            acquired,
            NaiveDate::from_ymd_opt(2026, 11, 30).expect("date")
        ));
    }

    #[test]
    fn the_diagram_draws_every_transition() {
        let diagram = mermaid();
        assert!(diagram.contains("listed --> awarded: award"));
        assert!(diagram.contains("available --> recycled: recycle"));
        assert!(diagram.contains("donated --> [*]"));
    }

    fn arb_facts() -> impl Strategy<Value = Facts> {
        (any::<[bool; 6]>(), prop::option::of(0u8..3)).prop_map(|(b, g)| Facts {
            accepted_claim: b[0],
            signed_handover: b[1],
            grade: g.map(|g| [Grade::A, Grade::B, Grade::C][g as usize]),
            has_data_storage: b[2],
            storage_media_declared: b[3] || b[5],
            storage_sanitised: b[3],
            acquisition_date: None,
            today: None,
            age_override: false,
            eligible_beneficiary: b[4] || b[5],
        })
    }

    proptest! {
        /// No sequence of transitions, whatever the facts along the way, donates a device whose
        /// storage was not sanitised at the time, and nothing ever leaves a final state.
        #[test]
        fn no_walk_donates_unsanitised_storage(steps in prop::collection::vec((0usize..TRANSITIONS.len(), arb_facts(), 0usize..3), 1..40)) {
            let mut state = S::Inventoried;
            for (ti, facts, who) in steps {
                let t = &TRANSITIONS[ti];
                let kind = [K::PublicBody, K::Refurbisher, K::Association][who];
                let before = state;
                if let Ok(next) = fire(t.name, state, actor(kind), &facts) {
                    prop_assert!(!before.is_final());
                    if next == S::Donated {
                        prop_assert!(!facts.has_data_storage || facts.storage_sanitised);
                        prop_assert!(facts.signed_handover && facts.eligible_beneficiary);
                    }
                    state = next;
                }
            }
        }
    }
}
