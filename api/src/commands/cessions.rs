//! A public body's direct cessions of its own devices, outside the marketplace: to a member of
//! its staff (CG3P L3212-2 5°) or to another public body (11°), under the 300 € ceiling per
//! device (D3212-4, D3212-5). One act records the convention, the beneficiary's re-use
//! commitment and the remise: the devices become `donated` (transition `cede`), the convention
//! and the procès-verbal de remise are queued, the event goes on the body's stream.

use chrono::NaiveDate;
use reemploi_domain::Invalid;
use reemploi_domain::eligibility::{self, Beneficiary, Cession, Decision, Giver, ReasonCode};
use reemploi_domain::lifecycle::{Facts, ItemStatus};
use reemploi_domain::lot::CessionMode;
use reemploi_domain::organisation::{OrganisationKind, PublicBodyType, VerificationStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{By, lock_order, transitions};
use crate::documents::{self, Kind, Subject};
use crate::error::{ApiError, ApiResult, ErrorCode, RefusedItem};
use crate::state::AppState;
use crate::store::entities::{direct_cession, direct_cession_item, item, item_hold, organisation};
use crate::store::events::{NewEvent, organisation_stream};
use crate::store::{self, items as store_items};

/// Who receives the devices, parsed.
#[derive(Debug, Clone)]
pub enum Recipient {
    /// A member of the body's staff, by name and post (5°).
    Staff { name: String, post: Option<String> },
    /// A public body registered in the service (11°), with who represents it.
    RegisteredBody {
        organisation_id: Uuid,
        representative: Option<String>,
    },
    /// A public body named in the act (11°).
    NamedBody {
        name: String,
        siret: Option<String>,
        address: String,
        representative: Option<String>,
    },
}

/// A direct cession as the body records it, parsed.
#[derive(Debug, Clone)]
pub struct NewDirectCession {
    pub recipient: Recipient,
    pub item_ids: Vec<Uuid>,
    pub handed_over_on: NaiveDate,
    pub notes: Option<String>,
}

/// The devices refused by the law, as a problem: 422 `ceiling_exceeded` when every reason is
/// the value, `not_eligible` otherwise; each device with its reason.
fn refusal(reasons: &[eligibility::Reason], items: &[item::Model]) -> ApiError {
    let value_only = reasons.iter().all(|r| {
        matches!(
            r.code,
            ReasonCode::NetBookValueUnknown | ReasonCode::NetBookValueAboveCeiling
        )
    });
    let code = if value_only {
        ErrorCode::CeilingExceeded
    } else {
        ErrorCode::NotEligible
    };
    let fr: Vec<&str> = reasons
        .iter()
        .filter(|r| r.item.is_none())
        .map(|r| r.message_fr.as_str())
        .collect();
    let en: Vec<&str> = reasons
        .iter()
        .filter(|r| r.item.is_none())
        .map(|r| r.message_en.as_str())
        .collect();
    let n = reasons.iter().filter(|r| r.item.is_some()).count();
    let mut e = ApiError::new(code).detail(
        format!(
            "{} {n} motif(s) par équipement, listés dans `items`.",
            fr.join(" ")
        )
        .trim()
        .to_owned(),
        format!(
            "{} {n} reason(s) per device, listed in `items`.",
            en.join(" ")
        )
        .trim()
        .to_owned(),
    );
    e.items = reasons
        .iter()
        .filter_map(|r| {
            let m = items.get(r.item?)?;
            Some(RefusedItem {
                item_id: m.id,
                inventory_number: m.inventory_number.clone(),
                code: r.code.as_str(),
                message_fr: r.message_fr.clone(),
                message_en: r.message_en.clone(),
            })
        })
        .collect();
    e
}

/// Records a direct cession by the body `by` acts for: checks the recipient, the devices (the
/// body's own, in its inventory or refurbished for it, not held by a reservation), the law
/// (`domain::eligibility`: route 5° or 11°, 300 € per device, 10 years), then cedes each device.
pub async fn create_direct_cession(
    cx: &AppState,
    by: &By,
    new: &NewDirectCession,
) -> ApiResult<direct_cession::Model> {
    write_tx!(&cx.db, |tx| {
        let body = organisation::Entity::find_by_id(by.organisation_id)
            .one(tx)
            .await?
            .ok_or_else(ApiError::not_found)?;
        let body_type = body
            .public_body_type
            .as_deref()
            .and_then(PublicBodyType::parse)
            .unwrap_or(PublicBodyType::Commune);
        // The recipient, as printed.
        let (route, beneficiary, recipient_org, name, role, address, siret) = match &new.recipient {
            Recipient::Staff { name, post } => (
                "staff",
                Beneficiary::Staff,
                None,
                name.clone(),
                post.clone(),
                None,
                None,
            ),
            Recipient::RegisteredBody {
                organisation_id,
                representative,
            } => {
                let o = organisation::Entity::find_by_id(*organisation_id)
                    .one(tx)
                    .await?
                    .filter(|o| {
                        o.id != body.id
                            && OrganisationKind::parse(&o.kind)
                                == Some(OrganisationKind::PublicBody)
                            && VerificationStatus::parse(&o.status)
                                == Some(VerificationStatus::Verified)
                    })
                    .ok_or_else(|| {
                        ApiError::field("public_body.organisation_id", Invalid::InvalidFormat)
                            .detail(
                                "Le bénéficiaire doit être une autre personne publique vérifiée \
                                 du service.",
                                "The beneficiary must be another verified public body of the \
                                 service.",
                            )
                    })?;
                (
                    "public_body",
                    Beneficiary::OtherPublicBody,
                    Some(o.id),
                    o.name.clone(),
                    representative.clone(),
                    Some(format!("{}, {} {}", o.address, o.postcode, o.city)),
                    o.siret.clone(),
                )
            }
            Recipient::NamedBody {
                name,
                siret,
                address,
                representative,
            } => (
                "public_body",
                Beneficiary::OtherPublicBody,
                None,
                name.clone(),
                representative.clone(),
                Some(address.clone()),
                siret.clone(),
            ),
        };
        // The devices, locked in id order.
        let locked = item::Entity::find()
            .filter(item::Column::Id.is_in(lock_order(&new.item_ids)))
            .order_by_asc(item::Column::Id)
            .lock_exclusive()
            .all(tx)
            .await?;
        let mut items: Vec<item::Model> = Vec::new();
        for (i, id) in new.item_ids.iter().enumerate() {
            if items.iter().any(|m| m.id == *id) {
                continue;
            }
            let m = locked
                .iter()
                .find(|m| m.id == *id)
                .filter(|m| m.organisation_id == body.id)
                .ok_or_else(|| {
                    ApiError::field(format!("item_ids[{i}]"), Invalid::InvalidFormat).detail(
                        format!("L'équipement {id} n'appartient pas à l'organisme."),
                        format!("Device {id} does not belong to the body."),
                    )
                })?;
            // Devices that came from the body but left it are gone, not someone else's.
            let free = m.owner_id == body.id
                && match ItemStatus::parse(&m.status) {
                    Some(ItemStatus::Inventoried) => m.lot_id.is_none(),
                    Some(ItemStatus::Refurbished | ItemStatus::Available) => true,
                    _ => false,
                };
            let held = item_hold::Entity::find_by_id(m.id).one(tx).await?.is_some();
            if !free || held {
                return Err(ApiError::new(ErrorCode::ItemNotAvailable).detail(
                    format!(
                        "L'équipement {} est dans un lot, réservé ou n'est plus à l'organisme.",
                        m.inventory_number
                    ),
                    format!(
                        "Device {} is in a lot, reserved or no longer the body's.",
                        m.inventory_number
                    ),
                ));
            }
            items.push(m.clone());
        }
        let facts: Vec<_> = items.iter().map(store_items::eligibility_facts).collect();
        let decision = eligibility::check(&Cession {
            giver: Giver::PublicBody(body_type),
            beneficiary,
            mode: CessionMode::Service,
            items: &facts,
            date: new.handed_over_on,
        });
        if let Decision::Refused { reasons } = &decision {
            return Err(refusal(reasons, &items));
        }
        let printed = documents::legal_basis(
            &body,
            beneficiary,
            CessionMode::Service,
            &items,
            new.handed_over_on,
        );
        let id = store::new_id();
        let now = store::now();
        direct_cession::Entity::insert(direct_cession::ActiveModel {
            id: Set(id),
            organisation_id: Set(body.id),
            route: Set(route.to_owned()),
            beneficiary_organisation_id: Set(recipient_org),
            beneficiary_name: Set(name.clone()),
            beneficiary_role: Set(role),
            beneficiary_address: Set(address),
            beneficiary_siret: Set(siret),
            legal_basis: Set(printed.basis),
            resale_terms: Set(printed.resale),
            commitment_reuse: Set(true),
            handed_over_on: Set(new.handed_over_on),
            notes: Set(new.notes.clone()),
            created_by: Set(by.actor_ref.clone()),
            created_at: Set(now),
        })
        .exec_without_returning(tx)
        .await?;
        for m in &items {
            direct_cession_item::Entity::insert(direct_cession_item::ActiveModel {
                direct_cession_id: Set(id),
                item_id: Set(m.id),
            })
            .exec_without_returning(tx)
            .await?;
            let (media_declared, sanitised) = store_items::storage_facts(tx, m.id).await?;
            let facts = Facts {
                signed_handover: true,
                eligible_beneficiary: true,
                has_data_storage: m.has_data_storage,
                storage_media_declared: media_declared,
                storage_sanitised: sanitised,
                ..Facts::default()
            };
            let new_owner = recipient_org.unwrap_or(body.id);
            transitions::fire(
                tx,
                m,
                "cede",
                by,
                &facts,
                vec![
                    (item::Column::OwnerId, Expr::value(new_owner)),
                    (item::Column::CustodianId, Expr::value(new_owner)),
                ],
                serde_json::json!({ "direct_cession_id": id, "route": route, "to_organisation_id": recipient_org }),
            )
            .await?;
        }
        // A member of staff is a person: the name stays out of the hashed payload.
        let beneficiary =
            crate::store::people::record(tx, None, Some(body.id), Some(&name), None).await?;
        tx.event(NewEvent {
            stream: organisation_stream(body.id),
            organisation_id: Some(body.id),
            actor: by.actor_ref.clone(),
            kind: "direct_cession_recorded",
            payload: serde_json::json!({
                "direct_cession_id": id, "route": route, "beneficiary": beneficiary,
                "beneficiary_organisation_id": recipient_org,
                "item_ids": items.iter().map(|m| m.id).collect::<Vec<_>>(),
                "handed_over_on": new.handed_over_on,
            }),
        })
        .await?;
        documents::enqueue(
            tx,
            &[
                (Kind::ConventionCession, Subject::DirectCession(id)),
                (Kind::PvRemise, Subject::DirectCession(id)),
            ],
        )
        .await?;
        direct_cession::Entity::find_by_id(id)
            .one(tx)
            .await?
            .ok_or_else(ApiError::not_found)
    })
}
