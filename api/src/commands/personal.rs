//! A person's rights over their data (RGPD art. 15 and 17): the export of everything held about
//! a user (a read), and the erasure of a user, by themselves or by the operator (a write that
//! blanks their name and address in every table and keeps every hash chain whole, since no
//! hashed payload holds them; `docs/personal-data.md`).

use reemploi_domain::organisation::{OrganisationKind, Role};
use reemploi_domain::personal::{ERASED_NAME, erased_email, keeps_signatory_name};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::write;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store;
use crate::store::entities::{
    document, document_signature, event, idempotency_key, membership, organisation, person,
    refurbishment_record, sanitisation_record, session, user,
};
use crate::store::events::NewEvent;
use crate::store::organisations::{admin_count, lock_organisation, org_event};
use crate::store::people::{self, NamedColumn};

/// Who asks for the erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErasedBy {
    /// The person, through `DELETE /v1/me`.
    Themselves,
    /// The platform operator.
    Operator,
}

/// What an erasure changed.
#[derive(Debug, Clone, Default)]
pub struct Erasure {
    pub memberships: usize,
    pub sessions: usize,
    pub person_records: usize,
    /// Rows of other tables whose text named the person.
    pub rows: usize,
    /// Signatures kept with the name (acts of a public body, `keeps_signatory_name`).
    pub kept_signatures: usize,
}

const fn at(
    table: &'static str,
    column: &'static str,
    organisation_columns: &'static [&'static str],
) -> NamedColumn {
    NamedColumn {
        table,
        column,
        organisation_columns,
    }
}

const ORG: &[&str] = &["organisation_id"];
const HANDOVER_ORGS: &[&str] = &["from_organisation_id", "to_organisation_id"];
const ITEM_ORGS: &[&str] = &["owner_id", "custodian_id", "organisation_id"];
const ANYWHERE: &[&str] = &[];

/// Where names and addresses typed or copied by the service live, outside `users`, `people`,
/// signatures and documents: each text column is searched (within the person's organisations
/// where rows name one) and blanked.
const NAMED_COLUMNS: &[NamedColumn] = &[
    at("sanitisation_records", "operator_name", ORG),
    at("sanitisation_records", "notes", ORG),
    at("refurbishment_records", "technician_name", ORG),
    at("refurbishment_records", "notes", ORG),
    at("handovers", "from_signatory_name", HANDOVER_ORGS),
    at("handovers", "to_signatory_name", HANDOVER_ORGS),
    at("handovers", "notes", HANDOVER_ORGS),
    at("items", "valuation_by", ITEM_ORGS),
    at("items", "ceiling_override_by", ANYWHERE),
    at("items", "valuation_note", ITEM_ORGS),
    at("direct_cessions", "beneficiary_name", ORG),
    at("direct_cessions", "notes", ORG),
    at("invitations", "email", ANYWHERE),
    at("organisations", "contact_email", ANYWHERE),
    at("outbox", "payload", ANYWHERE),
    at("webhook_deliveries", "body", ANYWHERE),
];

/// Erases `user_id`: blanks their name and address everywhere, ends their sessions and
/// memberships (refused with 422 `last_admin` while they are the last admin of an
/// organisation), and appends `user_erased` to their stream.
pub async fn erase(
    cx: &AppState,
    actor_ref: String,
    user_id: Uuid,
    by: ErasedBy,
) -> ApiResult<Erasure> {
    write(&cx.db, async move |tx| {
        let u = user::Entity::find_by_id(user_id)
            .one(tx)
            .await?
            .ok_or_else(ApiError::not_found)?;
        if u.email == erased_email(&user_id.to_string()) {
            return Err(ApiError::new(ErrorCode::Conflict).detail(
                "Les données de cette personne ont déjà été effacées.",
                "This person's data was already erased.",
            ));
        }
        let mut done = Erasure::default();
        let user_ref = format!("user/{user_id}");

        // Memberships first: the last admin of an organisation stays until another is named.
        let memberships = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user_id))
            .order_by_asc(membership::Column::OrganisationId)
            .all(tx)
            .await?;
        for m in &memberships {
            lock_organisation(tx, m.organisation_id).await?;
            if m.role == Role::Admin.as_str() && admin_count(tx, m.organisation_id).await? <= 1 {
                return Err(ApiError::new(ErrorCode::LastAdmin).detail(
                    "Cette personne est le dernier administrateur d'une organisation : nommez \
                     d'abord un autre administrateur.",
                    "This person is the last administrator of an organisation: appoint another \
                     administrator first.",
                ));
            }
        }
        for m in &memberships {
            membership::Entity::delete_by_id(m.id).exec(tx).await?;
            org_event(
                tx,
                m.organisation_id,
                actor_ref.clone(),
                "member_removed",
                serde_json::json!({ "user_id": user_id, "role": m.role, "reason": "erasure" }),
            )
            .await?;
        }
        done.memberships = memberships.len();

        // Signatures the law keeps with the name: acts of a public body signed by its agent.
        let signatures = document_signature::Entity::find()
            .filter(document_signature::Column::SignedBy.eq(user_ref.clone()))
            .all(tx)
            .await?;
        let mut keep: Vec<Uuid> = Vec::new();
        for s in &signatures {
            let kind = organisation::Entity::find_by_id(s.organisation_id)
                .one(tx)
                .await?
                .and_then(|o| OrganisationKind::parse(&o.kind));
            let series = document::Entity::find()
                .filter(document::Column::SeriesId.eq(s.series_id))
                .all(tx)
                .await?;
            let kept = kind.is_some_and(|k| {
                series
                    .first()
                    .is_some_and(|d| keeps_signatory_name(&d.kind, k))
            });
            if kept {
                keep.push(s.id);
                keep.extend(series.iter().map(|d| d.id));
                done.kept_signatures += 1;
            } else {
                document_signature::Entity::update_many()
                    .col_expr(
                        document_signature::Column::SignerName,
                        Expr::value(ERASED_NAME),
                    )
                    .filter(document_signature::Column::Id.eq(s.id))
                    .exec(tx)
                    .await?;
                done.rows += 1;
            }
        }

        let needles = [u.display_name.as_str(), u.email.as_str()];
        let orgs: Vec<Uuid> = memberships.iter().map(|m| m.organisation_id).collect();
        done.rows += people::redact_column(
            tx,
            at("documents", "data", ANYWHERE),
            &needles,
            &orgs,
            &keep,
        )
        .await?
        .len();
        done.rows += people::redact_column(
            tx,
            at("document_signatures", "signer_name", ORG),
            &needles,
            &orgs,
            &keep,
        )
        .await?
        .len();
        for named in NAMED_COLUMNS {
            let changed = people::redact_column(tx, *named, &needles, &orgs, &[]).await?;
            if named.table == "outbox" && !changed.is_empty() {
                // A message to or about the person is not sent any more.
                crate::store::entities::outbox::Entity::update_many()
                    .col_expr(
                        crate::store::entities::outbox::Column::DoneAt,
                        Expr::value(Some(store::now())),
                    )
                    .filter(crate::store::entities::outbox::Column::Id.is_in(changed.clone()))
                    .filter(crate::store::entities::outbox::Column::DoneAt.is_null())
                    .exec(tx)
                    .await?;
            }
            done.rows += changed.len();
        }
        // Replayable answers that named the person (registration, invitation, profile).
        let lowered: Vec<Vec<u8>> = people::spellings(&needles)
            .into_iter()
            .map(String::into_bytes)
            .collect();
        for k in idempotency_key::Entity::find().all(tx).await? {
            let names = k.body.as_deref().is_some_and(|b| {
                lowered
                    .iter()
                    .any(|n| !n.is_empty() && b.windows(n.len()).any(|w| w == n.as_slice()))
            });
            if names {
                idempotency_key::Entity::delete_by_id(k.id).exec(tx).await?;
                done.rows += 1;
            }
        }

        done.person_records =
            people::erase_records(tx, user_id, &u.email, &u.display_name, &orgs).await?;
        // One-time links mailed to the person, and the provider identities linked to the
        // account (their subject and address), with the sessions opened through them.
        {
            use crate::store::entities::{account_token, oidc_identity, oidc_session};
            done.rows += account_token::Entity::delete_many()
                .filter(account_token::Column::UserId.eq(user_id))
                .exec(tx)
                .await?
                .rows_affected as usize;
            let identities: Vec<Uuid> = oidc_identity::Entity::find()
                .filter(oidc_identity::Column::UserId.eq(user_id))
                .all(tx)
                .await?
                .into_iter()
                .map(|i| i.id)
                .collect();
            if !identities.is_empty() {
                oidc_session::Entity::delete_many()
                    .filter(oidc_session::Column::IdentityId.is_in(identities.clone()))
                    .exec(tx)
                    .await?;
                done.rows += oidc_identity::Entity::delete_many()
                    .filter(oidc_identity::Column::Id.is_in(identities))
                    .exec(tx)
                    .await?
                    .rows_affected as usize;
            }
        }
        done.sessions = session::Entity::delete_many()
            .filter(session::Column::UserId.eq(user_id))
            .exec(tx)
            .await?
            .rows_affected as usize;
        user::Entity::update_many()
            .col_expr(
                user::Column::Email,
                Expr::value(erased_email(&user_id.to_string())),
            )
            .col_expr(user::Column::DisplayName, Expr::value(ERASED_NAME))
            .col_expr(
                user::Column::PasswordHash,
                Expr::value(Option::<String>::None),
            )
            .col_expr(user::Column::UpdatedAt, Expr::value(store::now()))
            .filter(user::Column::Id.eq(user_id))
            .exec(tx)
            .await?;
        tx.event(NewEvent {
            stream: format!("user/{user_id}"),
            organisation_id: None,
            actor: actor_ref.clone(),
            kind: "user_erased",
            payload: serde_json::json!({
                "user_id": user_id,
                "by": match by { ErasedBy::Themselves => "self", ErasedBy::Operator => "operator" },
                "memberships": done.memberships, "sessions": done.sessions,
                "person_records": done.person_records, "rows": done.rows,
                "kept_signatures": done.kept_signatures,
            }),
        })
        .await?;
        Ok(done)
    })
    .await
}

/// Everything held about a user, read in one go.
#[derive(Debug, Clone)]
pub struct Export {
    pub user: user::Model,
    pub memberships: Vec<(membership::Model, Option<organisation::Model>)>,
    pub sessions: Vec<session::Model>,
    pub people: Vec<person::Model>,
    pub signatures: Vec<document_signature::Model>,
    pub sanitisations: Vec<sanitisation_record::Model>,
    pub refurbishments: Vec<refurbishment_record::Model>,
    pub actions: Vec<event::Model>,
}

/// Reads everything held about `user_id` (nothing is written).
pub async fn export(cx: &AppState, user_id: Uuid) -> ApiResult<Export> {
    let db = &cx.db;
    let u = user::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let user_ref = format!("user/{user_id}");
    let mut memberships = Vec::new();
    for m in membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .order_by_asc(membership::Column::CreatedAt)
        .all(db)
        .await?
    {
        let o = organisation::Entity::find_by_id(m.organisation_id)
            .one(db)
            .await?;
        memberships.push((m, o));
    }
    Ok(Export {
        sessions: session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .order_by_asc(session::Column::CreatedAt)
            .all(db)
            .await?,
        people: people::of_user(db, user_id, &u.email, &u.display_name, &[]).await?,
        signatures: document_signature::Entity::find()
            .filter(document_signature::Column::SignedBy.eq(user_ref.clone()))
            .order_by_asc(document_signature::Column::SignedAt)
            .all(db)
            .await?,
        sanitisations: sanitisation_record::Entity::find()
            .filter(sanitisation_record::Column::CreatedBy.eq(user_ref.clone()))
            .order_by_asc(sanitisation_record::Column::CreatedAt)
            .all(db)
            .await?,
        refurbishments: refurbishment_record::Entity::find()
            .filter(refurbishment_record::Column::CreatedBy.eq(user_ref.clone()))
            .order_by_asc(refurbishment_record::Column::CreatedAt)
            .all(db)
            .await?,
        actions: event::Entity::find()
            .filter(event::Column::Actor.eq(user_ref))
            .order_by_asc(event::Column::Id)
            .all(db)
            .await?,
        memberships,
        user: u,
    })
}
