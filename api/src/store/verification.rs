//! Reads of an organisation's verification: its checklist with the state of each item (from the
//! latest decision on it), the documents uploaded, the facts eligibility may use, and the loaded
//! SIRENE / RNA registers.

use std::collections::HashMap;

use chrono::NaiveDate;
use reemploi_domain::organisation::{BeneficiaryCategory, OrganisationKind, PublicBodyType};
use reemploi_domain::verification::{
    self as dom, CheckItem, Claimed, Claims, Decision, ItemState, Outcome,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::entities::{organisation, register_entry, verification_decision, verification_document};
use crate::error::ApiResult;

/// What an organisation claims now, read from its row.
pub fn claims(o: &organisation::Model) -> (OrganisationKind, Claims<'_>) {
    let kind = OrganisationKind::parse(&o.kind).unwrap_or(OrganisationKind::Association);
    let claims = Claims {
        siret: o.siret.as_deref(),
        rna: o.rna.as_deref(),
        public_body_type: o
            .public_body_type
            .as_deref()
            .and_then(PublicBodyType::parse),
        esus_reference: o.esus_reference.as_deref(),
        esus_expires_on: o.esus_expires_on,
        beneficiary_category: o
            .beneficiary_category
            .as_deref()
            .and_then(BeneficiaryCategory::parse),
        public_utility: o.public_utility,
    };
    (kind, claims)
}

/// The checklist of `o` as it stands now.
pub fn checklist(o: &organisation::Model) -> Vec<Claimed> {
    let (kind, c) = claims(o);
    dom::checklist(kind, &c)
}

fn as_decision(m: &verification_decision::Model) -> Option<Decision> {
    Some(Decision {
        item: CheckItem::parse(&m.item)?,
        subject: m.subject.clone(),
        outcome: Outcome::parse(&m.outcome)?,
        decided_on: m.decided_on,
        expires_on: m.expires_on,
    })
}

/// The latest decision on each item of an organisation (ids are UUIDv7: later is greater).
pub async fn latest_decisions<C: ConnectionTrait>(
    db: &C,
    organisation_id: Uuid,
) -> ApiResult<HashMap<CheckItem, verification_decision::Model>> {
    let rows = verification_decision::Entity::find()
        .filter(verification_decision::Column::OrganisationId.eq(organisation_id))
        .order_by_asc(verification_decision::Column::Id)
        .all(db)
        .await?;
    let mut latest = HashMap::new();
    for r in rows {
        if let Some(item) = CheckItem::parse(&r.item) {
            latest.insert(item, r);
        }
    }
    Ok(latest)
}

/// One item of the checklist, where it stands, and the decision it stands on (if it applies).
#[derive(Debug, Clone)]
pub struct ItemView {
    pub claimed: Claimed,
    pub state: ItemState,
    /// The latest decision on this item, even when it was about another value.
    pub latest: Option<verification_decision::Model>,
}

/// The checklist of `o` with each item's state on `today`.
pub async fn items<C: ConnectionTrait>(
    db: &C,
    o: &organisation::Model,
    today: NaiveDate,
) -> ApiResult<Vec<ItemView>> {
    let latest = latest_decisions(db, o.id).await?;
    Ok(checklist(o)
        .into_iter()
        .map(|claimed| {
            let row = latest.get(&claimed.item).cloned();
            let state = dom::state_of(&claimed, row.as_ref().and_then(as_decision).as_ref(), today);
            ItemView {
                claimed,
                state,
                latest: row,
            }
        })
        .collect())
}

/// Item and state pairs, as the rules read them.
pub fn states(items: &[ItemView]) -> Vec<(CheckItem, ItemState)> {
    items.iter().map(|i| (i.claimed.item, i.state)).collect()
}

/// What eligibility and claims may rely on: only what the operator accepted.
#[derive(Debug, Clone)]
pub struct VerifiedFacts {
    /// The category an association's cessions use (`Other` when nothing was proven).
    pub category: BeneficiaryCategory,
    /// The ESUS reference and the expiry the operator recorded, when accepted (even if it has
    /// expired since: the rule that reads it says so).
    pub esus: Option<(String, Option<NaiveDate>)>,
}

/// The verified facts of `o` on `today`.
pub async fn verified_facts<C: ConnectionTrait>(
    db: &C,
    o: &organisation::Model,
    today: NaiveDate,
) -> ApiResult<VerifiedFacts> {
    let items = items(db, o, today).await?;
    let declared = o
        .beneficiary_category
        .as_deref()
        .and_then(BeneficiaryCategory::parse);
    let category = dom::proven_category(declared, &states(&items));
    let esus = items
        .iter()
        .find(|i| i.claimed.item == CheckItem::EsusAccreditation)
        .and_then(|i| match i.state {
            ItemState::Accepted { expires_on } => Some(expires_on),
            ItemState::Expired { on } => Some(Some(on)),
            ItemState::Pending | ItemState::Refused => None,
        })
        .map(|expires_on| (o.esus_reference.clone().unwrap_or_default(), expires_on));
    Ok(VerifiedFacts { category, esus })
}

/// The documents an organisation uploaded, oldest first.
pub async fn documents<C: ConnectionTrait>(
    db: &C,
    organisation_id: Uuid,
) -> ApiResult<Vec<verification_document::Model>> {
    Ok(verification_document::Entity::find()
        .filter(verification_document::Column::OrganisationId.eq(organisation_id))
        .order_by_asc(verification_document::Column::Id)
        .all(db)
        .await?)
}

/// Which register an identifier is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    /// The SIRENE stock of establishments, by SIRET.
    Sirene,
    /// The RNA (Waldec) stock, by RNA number.
    Rna,
}

impl Register {
    pub fn as_str(self) -> &'static str {
        match self {
            Register::Sirene => "sirene",
            Register::Rna => "rna",
        }
    }
}

/// What a loaded register says of an identifier: `None` when no register of that kind was
/// loaded (the check stays offline: checksum and format only).
pub async fn registered<C: ConnectionTrait>(
    db: &C,
    register: Register,
    identifier: &str,
) -> ApiResult<Option<Option<register_entry::Model>>> {
    let loaded = register_entry::Entity::find()
        .filter(register_entry::Column::Register.eq(register.as_str()))
        .one(db)
        .await?
        .is_some();
    if !loaded {
        return Ok(None);
    }
    Ok(Some(
        register_entry::Entity::find()
            .filter(register_entry::Column::Register.eq(register.as_str()))
            .filter(register_entry::Column::Identifier.eq(identifier))
            .one(db)
            .await?,
    ))
}
