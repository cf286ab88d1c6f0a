//! The demand side's rules: the life cycles of a reservation and of a request as declarative
//! tables (name, from, to, who may fire, preconditions), and beside them the pure rules the
//! commands ask: the fair-share cap, expiry and the scheduling window, whether a device fits a
//! request line, a line's remaining quantity, and a request's status from its fulfilment.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::item::Category;

/// Where a reservation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// Proposed by the refurbisher against a request; the association accepts or declines.
    Proposed,
    /// Held for the association until its expiry.
    Active,
    Cancelled,
    Declined,
    Expired,
    /// Handed over: the devices are the association's.
    HandedOver,
}

impl ReservationStatus {
    pub const ALL: [ReservationStatus; 6] = [
        Self::Proposed,
        Self::Active,
        Self::Cancelled,
        Self::Declined,
        Self::Expired,
        Self::HandedOver,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Active => "active",
            Self::Cancelled => "cancelled",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::HandedOver => "handed_over",
        }
    }

    /// The status stored as `s`; `None` for anything else (a stored status the code does not
    /// know is a defect, never a default).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether its devices are held (out of the catalogue) in this status.
    pub fn holds_devices(self) -> bool {
        matches!(self, Self::Proposed | Self::Active)
    }
}

/// Where a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestStatus {
    Draft,
    Open,
    PartiallyFulfilled,
    Fulfilled,
    Cancelled,
    Expired,
}

impl RequestStatus {
    pub const ALL: [RequestStatus; 6] = [
        Self::Draft,
        Self::Open,
        Self::PartiallyFulfilled,
        Self::Fulfilled,
        Self::Cancelled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::PartiallyFulfilled => "partially_fulfilled",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// The status stored as `s`; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Refurbishers may still propose devices, and associations attach reservations.
    pub fn accepts_proposals(self) -> bool {
        matches!(self, Self::Open | Self::PartiallyFulfilled)
    }

    /// Still a live need (it may be cancelled or expire).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Draft | Self::Open | Self::PartiallyFulfilled)
    }
}

/// How devices reach the association.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandoverMode {
    /// The association collects them at the refurbisher's.
    Pickup,
    /// The refurbisher delivers them.
    Delivery,
}

impl HandoverMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pickup => "pickup",
            Self::Delivery => "delivery",
        }
    }

    /// French word for mails and documents.
    pub fn label_fr(self) -> &'static str {
        match self {
            Self::Pickup => "retrait",
            Self::Delivery => "livraison",
        }
    }
}

/// Who fires a transition of the demand side, relative to the reservation or request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The association the devices are for (or whose request it is).
    Association,
    /// The refurbisher holding the devices.
    Refurbisher,
    /// The platform itself: upkeep, or a consequence of another write.
    Platform,
    /// Anyone else: never in a row's `by`, so always refused.
    Outsider,
}

/// A condition that must hold for a demand-side transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precondition {
    /// The request the reservation answers (if any) is open or partly fulfilled.
    RequestAcceptsProposals,
    /// The association stays within the refurbisher's fair-share cap.
    WithinFairShare,
    /// The devices fit the request line and do not exceed its remaining quantity.
    WithinLine,
    /// The association committed not to resell and to re-use (CG3P L3212-2).
    CommitmentsGiven,
    /// The handover date is not in the future.
    HandoverNotInFuture,
    /// The planned date is within the scheduling window.
    WithinSchedulingWindow,
    /// The reservation's expiry has passed.
    ExpiryPassed,
    /// The request's `needed_by` date has passed.
    NeededByPassed,
}

impl Precondition {
    pub fn code(self) -> &'static str {
        match self {
            Self::RequestAcceptsProposals => "request_accepts_proposals",
            Self::WithinFairShare => "within_fair_share",
            Self::WithinLine => "within_line",
            Self::CommitmentsGiven => "commitments_given",
            Self::HandoverNotInFuture => "handover_not_in_future",
            Self::WithinSchedulingWindow => "within_scheduling_window",
            Self::ExpiryPassed => "expiry_passed",
            Self::NeededByPassed => "needed_by_passed",
        }
    }
}

/// What is known when a transition is attempted; a precondition holds when its fact is true.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    pub request_accepts_proposals: bool,
    pub within_fair_share: bool,
    pub within_line: bool,
    pub commitments_given: bool,
    pub handover_not_in_future: bool,
    pub within_scheduling_window: bool,
    pub expiry_passed: bool,
    pub needed_by_passed: bool,
}

impl Facts {
    /// Every fact true: what a test or a caller that checked everything passes.
    pub const ALL_HOLD: Facts = Facts {
        request_accepts_proposals: true,
        within_fair_share: true,
        within_line: true,
        commitments_given: true,
        handover_not_in_future: true,
        within_scheduling_window: true,
        expiry_passed: true,
        needed_by_passed: true,
    };

    fn holds(&self, p: Precondition) -> bool {
        match p {
            Precondition::RequestAcceptsProposals => self.request_accepts_proposals,
            Precondition::WithinFairShare => self.within_fair_share,
            Precondition::WithinLine => self.within_line,
            Precondition::CommitmentsGiven => self.commitments_given,
            Precondition::HandoverNotInFuture => self.handover_not_in_future,
            Precondition::WithinSchedulingWindow => self.within_scheduling_window,
            Precondition::ExpiryPassed => self.expiry_passed,
            Precondition::NeededByPassed => self.needed_by_passed,
        }
    }
}

/// One row of a life-cycle table. An empty `from` creates the reservation or request.
#[derive(Debug, Clone, Copy)]
pub struct Transition<S: 'static> {
    pub name: &'static str,
    pub from: &'static [S],
    pub to: S,
    pub by: &'static [Party],
    pub preconditions: &'static [Precondition],
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal<S> {
    /// No transition has this name.
    Unknown,
    /// The transition does not leave the current state (`None`: it does not create).
    NotFromHere {
        transition: &'static str,
        from: Option<S>,
    },
    /// This party may not fire it.
    NotAllowed { transition: &'static str },
    /// Preconditions that do not hold, all of them, in the table's order.
    Unmet {
        transition: &'static str,
        preconditions: Vec<Precondition>,
    },
}

use Party as W;
use Precondition as P;
use RequestStatus as Q;
use ReservationStatus as R;

/// The life cycle of a reservation.
pub const RESERVATION_TRANSITIONS: &[Transition<ReservationStatus>] = &[
    Transition {
        name: "reserve",
        from: &[],
        to: R::Active,
        by: &[W::Association],
        preconditions: &[
            P::RequestAcceptsProposals,
            P::WithinLine,
            P::WithinFairShare,
        ],
    },
    Transition {
        name: "propose",
        from: &[],
        to: R::Proposed,
        by: &[W::Refurbisher],
        preconditions: &[
            P::RequestAcceptsProposals,
            P::WithinLine,
            P::WithinFairShare,
        ],
    },
    Transition {
        name: "accept",
        from: &[R::Proposed],
        to: R::Active,
        by: &[W::Association],
        preconditions: &[],
    },
    Transition {
        name: "decline",
        from: &[R::Proposed],
        to: R::Declined,
        by: &[W::Association, W::Platform],
        preconditions: &[],
    },
    Transition {
        name: "cancel",
        from: &[R::Proposed, R::Active],
        to: R::Cancelled,
        by: &[W::Association, W::Refurbisher, W::Platform],
        preconditions: &[],
    },
    Transition {
        name: "schedule",
        from: &[R::Active],
        to: R::Active,
        by: &[W::Refurbisher],
        preconditions: &[P::WithinSchedulingWindow],
    },
    Transition {
        name: "hand_over",
        from: &[R::Active],
        to: R::HandedOver,
        by: &[W::Refurbisher],
        preconditions: &[P::CommitmentsGiven, P::HandoverNotInFuture],
    },
    Transition {
        name: "confirm_receipt",
        from: &[R::HandedOver],
        to: R::HandedOver,
        by: &[W::Association],
        preconditions: &[],
    },
    Transition {
        name: "remind",
        from: &[R::Active],
        to: R::Active,
        by: &[W::Platform],
        preconditions: &[],
    },
    Transition {
        name: "expire",
        from: &[R::Proposed, R::Active],
        to: R::Expired,
        by: &[W::Platform],
        preconditions: &[P::ExpiryPassed],
    },
];

/// The life cycle of a request.
pub const REQUEST_TRANSITIONS: &[Transition<RequestStatus>] = &[
    Transition {
        name: "open",
        from: &[],
        to: Q::Open,
        by: &[W::Association],
        preconditions: &[],
    },
    Transition {
        name: "save_draft",
        from: &[],
        to: Q::Draft,
        by: &[W::Association],
        preconditions: &[],
    },
    Transition {
        name: "cancel",
        from: &[Q::Draft, Q::Open, Q::PartiallyFulfilled],
        to: Q::Cancelled,
        by: &[W::Association],
        preconditions: &[],
    },
    Transition {
        name: "fulfil_partly",
        from: &[Q::Open, Q::PartiallyFulfilled],
        to: Q::PartiallyFulfilled,
        by: &[W::Platform],
        preconditions: &[],
    },
    Transition {
        name: "fulfil",
        from: &[Q::Open, Q::PartiallyFulfilled],
        to: Q::Fulfilled,
        by: &[W::Platform],
        preconditions: &[],
    },
    Transition {
        name: "expire",
        from: &[Q::Draft, Q::Open, Q::PartiallyFulfilled],
        to: Q::Expired,
        by: &[W::Platform],
        preconditions: &[P::NeededByPassed],
    },
];

fn fire_in<S: Copy + PartialEq>(
    table: &'static [Transition<S>],
    name: &str,
    from: Option<S>,
    by: Party,
    facts: &Facts,
) -> Result<S, Refusal<S>> {
    let t = table
        .iter()
        .find(|t| t.name == name)
        .ok_or(Refusal::Unknown)?;
    let leaves = match from {
        None => t.from.is_empty(),
        Some(s) => t.from.contains(&s),
    };
    if !leaves {
        return Err(Refusal::NotFromHere {
            transition: t.name,
            from,
        });
    }
    if !t.by.contains(&by) {
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

/// Fires reservation transition `name` from `from` (`None` to create one).
pub fn fire_reservation(
    name: &str,
    from: Option<ReservationStatus>,
    by: Party,
    facts: &Facts,
) -> Result<ReservationStatus, Refusal<ReservationStatus>> {
    fire_in(RESERVATION_TRANSITIONS, name, from, by, facts)
}

/// Fires request transition `name` from `from` (`None` to create one).
pub fn fire_request(
    name: &str,
    from: Option<RequestStatus>,
    by: Party,
    facts: &Facts,
) -> Result<RequestStatus, Refusal<RequestStatus>> {
    fire_in(REQUEST_TRANSITIONS, name, from, by, facts)
}

/// Devices one association may hold at one refurbisher when it set no cap.
pub const DEFAULT_FAIR_SHARE: i32 = 10;

/// The fair-share cap was reached: the association already holds `held` of `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairShareExceeded {
    pub cap: i32,
    pub held: u64,
}

/// Whether an association holding `held` devices at a refurbisher capped at `cap` (its own, or
/// [`DEFAULT_FAIR_SHARE`]) may hold `adding` more.
pub fn fair_share(cap: Option<i32>, held: u64, adding: usize) -> Result<(), FairShareExceeded> {
    let cap = cap.unwrap_or(DEFAULT_FAIR_SHARE);
    let limit = u64::try_from(cap).unwrap_or(0);
    if held.saturating_add(adding as u64) > limit {
        Err(FairShareExceeded { cap, held })
    } else {
        Ok(())
    }
}

/// When a reservation made (or a proposal accepted) at `now` expires.
pub fn expires_at(now: DateTime<Utc>, reservation_days: u32) -> DateTime<Utc> {
    now + TimeDelta::days(i64::from(reservation_days))
}

/// Whether a reservation expiring at `expires_at` has expired at `now`.
pub fn is_expired(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    expires_at <= now
}

/// Whether the association should be reminded at `now`: its reservation expires within a day
/// and it was not reminded yet.
pub fn reminder_due(expires_at: DateTime<Utc>, now: DateTime<Utc>, reminded: bool) -> bool {
    !reminded && expires_at > now && expires_at <= now + TimeDelta::days(1)
}

/// How far ahead a handover may be planned, in days.
pub const SCHEDULING_WINDOW_DAYS: i64 = 90;

/// Whether a handover planned on `planned_on` is within the window starting `today`.
pub fn within_scheduling_window(planned_on: NaiveDate, today: NaiveDate) -> bool {
    planned_on >= today && planned_on <= today + TimeDelta::days(SCHEDULING_WINDOW_DAYS)
}

/// A scheduled reservation is kept at least until the end of its planned day.
pub fn kept_until(expires_at: DateTime<Utc>, planned_on: NaiveDate) -> DateTime<Utc> {
    let end_of_day = planned_on
        .and_hms_opt(23, 59, 59)
        .map(|t| t.and_utc())
        .unwrap_or(expires_at);
    Ord::max(expires_at, end_of_day)
}

/// What a request line asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineSpec {
    pub category: Category,
    pub min_ram_gb: Option<i32>,
    pub min_storage_gb: Option<i32>,
    pub min_screen_inches: Option<f64>,
}

/// What a device offers, as far as a request line cares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceSpec {
    pub category: Option<Category>,
    pub ram_gb: Option<i32>,
    pub storage_gb: Option<i32>,
    pub screen_inches: Option<f64>,
}

/// Whether a device fits a line: same category and at least each minimum spec (an unknown spec
/// does not meet a minimum).
pub fn fits(line: &LineSpec, device: &DeviceSpec) -> bool {
    device.category == Some(line.category)
        && line
            .min_ram_gb
            .is_none_or(|v| device.ram_gb.is_some_and(|x| x >= v))
        && line
            .min_storage_gb
            .is_none_or(|v| device.storage_gb.is_some_and(|x| x >= v))
        && line
            .min_screen_inches
            .is_none_or(|v| device.screen_inches.is_some_and(|x| x >= v))
}

/// How many more devices a line takes: its quantity less those handed over (`fulfilled`) and
/// those held for it in proposed or active reservations (`pending`).
pub fn remaining(quantity: i32, fulfilled: i32, pending: u64) -> u64 {
    let open = i64::from(quantity) - i64::from(fulfilled);
    u64::try_from(open).unwrap_or(0).saturating_sub(pending)
}

/// The status a request reaches from its lines' `(quantity, fulfilled)`: `None` while nothing
/// was handed over (it stays where it is).
pub fn status_from_fulfilment(lines: &[(i32, i32)]) -> Option<RequestStatus> {
    if lines.iter().all(|(q, f)| f >= q) {
        Some(RequestStatus::Fulfilled)
    } else if lines.iter().any(|(_, f)| *f > 0) {
        Some(RequestStatus::PartiallyFulfilled)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PARTIES: [Party; 4] = [
        Party::Association,
        Party::Refurbisher,
        Party::Platform,
        Party::Outsider,
    ];

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_refused() {
        for s in ReservationStatus::ALL {
            assert_eq!(ReservationStatus::parse(s.as_str()), Some(s));
        }
        for s in RequestStatus::ALL {
            assert_eq!(RequestStatus::parse(s.as_str()), Some(s));
        }
        for bad in ["", "handed over", "HANDED_OVER", "archived", "open "] {
            assert_eq!(ReservationStatus::parse(bad), None, "{bad}");
            assert_eq!(RequestStatus::parse(bad), None, "{bad}");
        }
    }

    /// From every state (and from nothing), every transition either fires to its row's target
    /// for one of its parties, or is refused as not leaving that state.
    fn walk<S: Copy + PartialEq + std::fmt::Debug>(
        table: &'static [Transition<S>],
        states: &[S],
        fire: impl Fn(&str, Option<S>, Party, &Facts) -> Result<S, Refusal<S>>,
    ) {
        let froms: Vec<Option<S>> = std::iter::once(None)
            .chain(states.iter().copied().map(Some))
            .collect();
        for t in table {
            for from in &froms {
                let leaves = match from {
                    None => t.from.is_empty(),
                    Some(s) => t.from.contains(s),
                };
                for by in PARTIES {
                    let got = fire(t.name, *from, by, &Facts::ALL_HOLD);
                    match (leaves, t.by.contains(&by)) {
                        (true, true) => assert_eq!(got, Ok(t.to), "{} from {from:?}", t.name),
                        (true, false) => assert_eq!(
                            got,
                            Err(Refusal::NotAllowed { transition: t.name }),
                            "{} by {by:?}",
                            t.name
                        ),
                        (false, _) => assert_eq!(
                            got,
                            Err(Refusal::NotFromHere {
                                transition: t.name,
                                from: *from
                            }),
                            "{} from {from:?}",
                            t.name
                        ),
                    }
                }
                if leaves && !t.preconditions.is_empty() {
                    let by = t.by[0];
                    assert_eq!(
                        fire(t.name, *from, by, &Facts::default()),
                        Err(Refusal::Unmet {
                            transition: t.name,
                            preconditions: t.preconditions.to_vec()
                        })
                    );
                }
            }
        }
        assert_eq!(
            fire("teleport", None, Party::Platform, &Facts::ALL_HOLD),
            Err(Refusal::Unknown)
        );
    }

    #[test]
    fn the_reservation_table_answers_from_every_state() {
        walk(
            RESERVATION_TRANSITIONS,
            &ReservationStatus::ALL,
            fire_reservation,
        );
    }

    #[test]
    fn the_request_table_answers_from_every_state() {
        walk(REQUEST_TRANSITIONS, &RequestStatus::ALL, fire_request);
    }

    #[test]
    fn final_reservation_states_have_no_exit_and_holding_ones_do() {
        for s in ReservationStatus::ALL {
            let exits: Vec<&str> = RESERVATION_TRANSITIONS
                .iter()
                .filter(|t| t.from.contains(&s) && t.to != s)
                .map(|t| t.name)
                .collect();
            assert_eq!(exits.is_empty(), !s.holds_devices(), "{s:?}: {exits:?}");
        }
    }

    #[test]
    fn a_cancelled_or_expired_request_takes_no_reservation_and_cannot_be_cancelled_again() {
        for s in RequestStatus::ALL {
            let cancel = fire_request("cancel", Some(s), Party::Association, &Facts::ALL_HOLD);
            assert_eq!(cancel.is_ok(), s.is_live(), "{s:?}");
        }
        assert!(!RequestStatus::Cancelled.accepts_proposals());
        assert!(!RequestStatus::Draft.accepts_proposals());
        let facts = Facts {
            request_accepts_proposals: false,
            ..Facts::ALL_HOLD
        };
        assert_eq!(
            fire_reservation("propose", None, Party::Refurbisher, &facts),
            Err(Refusal::Unmet {
                transition: "propose",
                preconditions: vec![Precondition::RequestAcceptsProposals]
            })
        );
    }

    #[test]
    fn the_fair_share_counts_what_is_held_and_what_is_added() {
        assert_eq!(fair_share(Some(2), 0, 2), Ok(()));
        assert_eq!(
            fair_share(Some(2), 0, 3),
            Err(FairShareExceeded { cap: 2, held: 0 })
        );
        assert_eq!(
            fair_share(Some(2), 2, 1),
            Err(FairShareExceeded { cap: 2, held: 2 })
        );
        assert_eq!(fair_share(None, 9, 1), Ok(()));
        assert!(fair_share(None, 10, 1).is_err());
    }

    #[test]
    fn expiry_reminders_and_the_scheduling_window() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .expect("date")
            .with_timezone(&Utc);
        let exp = expires_at(now, 7);
        assert_eq!(exp, now + TimeDelta::days(7));
        assert!(!is_expired(exp, now));
        assert!(is_expired(now, now));
        assert!(reminder_due(now + TimeDelta::hours(2), now, false));
        assert!(!reminder_due(now + TimeDelta::hours(2), now, true));
        assert!(!reminder_due(now + TimeDelta::hours(30), now, false));
        assert!(!reminder_due(now - TimeDelta::hours(1), now, false));
        let today = now.date_naive();
        assert!(within_scheduling_window(today, today));
        assert!(within_scheduling_window(today + TimeDelta::days(90), today));
        assert!(!within_scheduling_window(
            today + TimeDelta::days(91),
            today
        ));
        assert!(!within_scheduling_window(today - TimeDelta::days(1), today));
        let later = today + TimeDelta::days(20);
        assert_eq!(
            kept_until(exp, later),
            later.and_hms_opt(23, 59, 59).expect("t").and_utc()
        );
        assert_eq!(kept_until(exp, today), exp);
    }

    #[test]
    fn a_device_fits_a_line_by_category_and_each_minimum() {
        let line = LineSpec {
            category: Category::Laptop,
            min_ram_gb: Some(8),
            min_storage_gb: None,
            min_screen_inches: Some(13.0),
        };
        let good = DeviceSpec {
            category: Some(Category::Laptop),
            ram_gb: Some(8),
            storage_gb: None,
            screen_inches: Some(14.0),
        };
        assert!(fits(&line, &good));
        for bad in [
            DeviceSpec {
                category: Some(Category::Monitor),
                ..good
            },
            DeviceSpec {
                ram_gb: Some(4),
                ..good
            },
            DeviceSpec {
                ram_gb: None,
                ..good
            },
            DeviceSpec {
                screen_inches: None,
                ..good
            },
            DeviceSpec {
                category: None,
                ..good
            },
        ] {
            assert!(!fits(&line, &bad), "{bad:?}");
        }
    }

    #[test]
    fn a_request_is_fulfilled_when_every_line_is() {
        assert_eq!(status_from_fulfilment(&[(3, 0), (1, 0)]), None);
        assert_eq!(
            status_from_fulfilment(&[(3, 1), (1, 0)]),
            Some(RequestStatus::PartiallyFulfilled)
        );
        assert_eq!(
            status_from_fulfilment(&[(3, 3), (1, 1)]),
            Some(RequestStatus::Fulfilled)
        );
    }

    proptest! {
        #[test]
        fn remaining_never_exceeds_quantity_and_never_goes_negative(
            q in 1i32..500, f in 0i32..600, p in 0u64..600
        ) {
            let r = remaining(q, f, p);
            prop_assert!(r <= q as u64);
            prop_assert_eq!(r + p.min((q - f.min(q)) as u64), (q - f.min(q)) as u64);
        }

        #[test]
        fn unknown_status_strings_never_parse(s in "[a-z_ ]{0,20}") {
            let known = ReservationStatus::ALL.iter().any(|k| k.as_str() == s);
            prop_assert_eq!(ReservationStatus::parse(&s).is_some(), known);
            let known = RequestStatus::ALL.iter().any(|k| k.as_str() == s);
            prop_assert_eq!(RequestStatus::parse(&s).is_some(), known);
        }
    }
}
