//! Writes on organisations: self-registration with a first admin, the profile, the operator's
//! verification and suspension, and bootstrapping the operator itself.

use reemploi_domain::email::Email;
use reemploi_domain::organisation::{self as dom, Profile, VerificationAction};
use reemploi_domain::text::Name;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{By, write};
use crate::access::Caller;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::store::entities::{membership, organisation, user};
use crate::store::organisations::{
    find_organisation, lock_organisation, org_event, profile_columns, user_by_email,
};
use crate::store::{self, is_unique_violation, unique_violation_detail, verification};

/// The writer of an organisation-scoped operation authorised by the access table.
pub fn by_member(caller: &Caller, organisation_id: Uuid, actor: Option<dom::Actor>) -> By {
    By {
        actor,
        actor_ref: caller.actor_ref(),
        organisation_id,
    }
}

/// Maps a unique violation of a registration or profile to its conflict code.
pub fn conflict_of(err: &sea_orm::DbErr) -> ApiError {
    let detail = unique_violation_detail(err).unwrap_or_default();
    if detail.contains("email") {
        ApiError::new(ErrorCode::EmailTaken)
    } else if detail.contains("siret") {
        ApiError::new(ErrorCode::SiretTaken)
    } else if detail.contains("rna") {
        ApiError::new(ErrorCode::RnaTaken)
    } else {
        ApiError::new(ErrorCode::Conflict)
    }
}

fn conflict_or(err: sea_orm::DbErr) -> ApiError {
    if is_unique_violation(&err) {
        conflict_of(&err)
    } else {
        err.into()
    }
}

/// Maps a refusal of the registration rules to the problem a client sees, naming the field.
fn registration_refused(refusal: dom::RegistrationRefusal) -> ApiError {
    let mut e = match refusal {
        dom::RegistrationRefusal::EsusExpired => ApiError::new(ErrorCode::EsusExpired).detail(
            "La date d'expiration de l'agrément ESUS est passée : renouvelez l'agrément ou \
             inscrivez-vous sans agrément.",
            "The ESUS accreditation's expiry date is past: renew it or register without it.",
        ),
    };
    e.fields.push((
        refusal.field().to_owned(),
        reemploi_domain::Invalid::OutOfRange,
    ));
    e
}

/// Checks the SIRET and RNA number against the SIRENE / RNA stock the operator loaded, when one
/// was loaded (otherwise only their checksum and format were checked, offline). With `current`,
/// identifiers the organisation already had are left out.
async fn check_registers<C: sea_orm::ConnectionTrait>(
    db: &C,
    profile: &Profile,
    current: Option<&organisation::Model>,
) -> ApiResult<()> {
    use crate::store::verification::{Register, registered};
    let siret = profile.siret.as_ref().map(|s| s.as_str());
    let rna = profile.rna.as_ref().map(|s| s.as_str());
    for (field, register, value, before) in [
        (
            "siret",
            Register::Sirene,
            siret,
            current.and_then(|c| c.siret.as_deref()),
        ),
        (
            "rna",
            Register::Rna,
            rna,
            current.and_then(|c| c.rna.as_deref()),
        ),
    ] {
        let Some(value) = value.filter(|v| Some(*v) != before) else {
            continue;
        };
        match registered(db, register, value).await? {
            None => {}
            Some(Some(entry)) if entry.active => {}
            Some(found) => {
                let (fr, en) = if found.is_some() {
                    (
                        "Le répertoire chargé indique cet établissement ou cette association comme fermé ou dissous.",
                        "The loaded register lists this establishment or association as closed or dissolved.",
                    )
                } else {
                    (
                        "Cet identifiant est absent du répertoire chargé par l'opérateur.",
                        "This identifier is not in the register the operator loaded.",
                    )
                };
                let mut e = ApiError::new(ErrorCode::IdentifierNotRegistered).detail(fr, en);
                e.fields
                    .push((field.to_owned(), reemploi_domain::Invalid::InvalidFormat));
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The first administrator of a registered organisation.
pub struct FirstAdmin {
    pub email: Email,
    pub display_name: Name,
    pub password: String,
}

/// Who becomes the first admin of a registered organisation.
enum Registrant {
    /// A new account (its password hash).
    New(String),
    /// The existing account of this address, whose password was given.
    Existing(user::Model),
    /// The address has an account but the password given is not its: nothing is created, the
    /// owner is told by mail, and the caller gets the same answer as a success.
    Decoy(user::Model),
}

/// Registers an organisation as `pending` with its first admin; answers it and the admin's id.
///
/// The answer never tells whether the address already has an account (`docs/accounts.md`):
/// with a new address the account is created; with the address of an existing account and
/// that account's password, the organisation is registered with that account as its admin;
/// with another password nothing is created, the address's owner is mailed, and the answer is
/// shaped as a success (an organisation nobody can see, an id nobody has).
pub async fn register_organisation(
    cx: &AppState,
    kind: dom::OrganisationKind,
    profile: &Profile,
    admin: FirstAdmin,
) -> ApiResult<(organisation::Model, Uuid)> {
    dom::check_registration(profile, cx.settings.today()).map_err(registration_refused)?;
    check_registers(&cx.db, profile, None).await?;
    let mut registrant = registrant_of(cx, &admin).await?;
    loop {
        let new_account = matches!(registrant, Registrant::New(_));
        match register_as(cx, kind, profile, &admin, registrant).await {
            // A concurrent registration created the account first: decide again, as if this
            // one had come second, rather than tell the address is taken.
            Err(e) if new_account && e.code == ErrorCode::EmailTaken => {
                registrant = registrant_of(cx, &admin).await?;
                if matches!(registrant, Registrant::New(_)) {
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}

/// Who the first admin is; hashing a new password and checking an existing one take alike.
async fn registrant_of(cx: &AppState, admin: &FirstAdmin) -> ApiResult<Registrant> {
    let existing = user_by_email(&cx.db, admin.email.as_str()).await?;
    let password = admin.password.clone();
    Ok(match existing {
        None => Registrant::New(
            tokio::task::spawn_blocking(move || crate::security::hash_password(&password))
                .await
                .map_err(anyhow::Error::from)??,
        ),
        Some(u) => {
            let hash = u
                .password_hash
                .clone()
                .unwrap_or_else(|| crate::security::dummy_hash().to_owned());
            let valid = tokio::task::spawn_blocking(move || {
                crate::security::verify_password(&password, &hash)
            })
            .await
            .unwrap_or(false);
            if valid && u.password_hash.is_some() {
                Registrant::Existing(u)
            } else {
                Registrant::Decoy(u)
            }
        }
    })
}

async fn register_as(
    cx: &AppState,
    kind: dom::OrganisationKind,
    profile: &Profile,
    admin: &FirstAdmin,
    registrant: Registrant,
) -> ApiResult<(organisation::Model, Uuid)> {
    let admin_email = admin.email.clone();
    let admin_name = admin.display_name.clone();
    let today = cx.settings.today();
    let profile = profile.clone();
    let public_url = cx.settings.public_url.clone();
    let verification_ttl = cx.settings.accounts.email_verification_ttl_hours;
    write(&cx.db, async move |tx| {
        dom::check_registration(&profile, today).map_err(registration_refused)?;
        let now = store::now();
        let org_id = store::new_id();
        let user_id = match &registrant {
            Registrant::New(password_hash) => {
                let user_id = store::new_id();
                // The user first: concurrent registrations with one e-mail conflict on it.
                user::Entity::insert(user::ActiveModel {
                    id: Set(user_id),
                    email: Set(admin_email.as_str().to_owned()),
                    display_name: Set(admin_name.as_str().to_owned()),
                    password_hash: Set(Some(password_hash.clone())),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .exec_without_returning(tx)
                .await
                .map_err(conflict_or)?;
                user_id
            }
            Registrant::Existing(u) => u.id,
            Registrant::Decoy(_) => store::new_id(),
        };
        let mut am = organisation::ActiveModel {
            id: Set(org_id),
            kind: Set(kind.as_str().to_owned()),
            status: Set(dom::VerificationStatus::Pending.as_str().to_owned()),
            status_reason: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        profile_columns(&mut am, &profile);
        // Inserted in every case, so that identifier conflicts answer alike.
        organisation::Entity::insert(am)
            .exec_without_returning(tx)
            .await
            .map_err(conflict_or)?;
        if let Registrant::Decoy(owner) = &registrant {
            let shown = find_organisation(tx, org_id).await?;
            organisation::Entity::delete_by_id(org_id).exec(tx).await?;
            let mail = crate::mail::messages::registration_attempt(
                crate::mail::messages::lang_of(&owner.language),
                &owner.email,
                profile.name.as_str(),
                format!(
                    "{}{}",
                    public_url.trim_end_matches('/'),
                    crate::commands::credentials::paths::FORGOT
                ),
                crate::commands::credentials::platform_contact(tx).await?,
            );
            crate::store::outbox::enqueue(tx, crate::store::outbox::Topic::Mail, &mail).await?;
            tx.event(crate::store::events::NewEvent {
                stream: crate::commands::accounts::user_stream(owner.id),
                organisation_id: None,
                actor: "anonymous".to_owned(),
                kind: "registration_with_existing_address",
                payload: serde_json::json!({ "organisation_name": profile.name.as_str() }),
            })
            .await?;
            return Ok((shown, user_id));
        }
        membership::Entity::insert(membership::ActiveModel {
            id: Set(store::new_id()),
            user_id: Set(user_id),
            organisation_id: Set(org_id),
            role: Set(dom::Role::Admin.as_str().to_owned()),
            created_at: Set(now),
        })
        .exec_without_returning(tx)
        .await?;
        if matches!(registrant, Registrant::New(_)) {
            crate::commands::credentials::queue_verification(
                tx,
                &public_url,
                verification_ttl,
                user_id,
                admin_email.as_str(),
                "fr",
            )
            .await?;
        }
        let actor = format!("user/{user_id}");
        org_event(
            tx,
            org_id,
            actor.clone(),
            "organisation_registered",
            serde_json::json!({
                "kind": kind.as_str(),
                "name": profile.name.as_str(),
                "siret": profile.siret.as_ref().map(|s| s.as_str()),
                "rna": profile.rna.as_ref().map(|s| s.as_str()),
                "insee_code": profile.insee_code.as_str(),
                "esus_expires_on": profile.esus_expires_on,
            }),
        )
        .await?;
        org_event(
            tx,
            org_id,
            actor,
            "member_added",
            serde_json::json!({ "user_id": user_id, "role": "admin" }),
        )
        .await?;
        Ok((find_organisation(tx, org_id).await?, user_id))
    })
    .await
}

/// Replaces an organisation's profile under optimistic concurrency (`if_match` checks the
/// version read under lock). A verified organisation whose SIRET or RNA changes goes back to `pending`.
pub async fn update_organisation(
    cx: &AppState,
    by: &By,
    id: Uuid,
    profile: &Profile,
    if_match: impl Fn(i32) -> ApiResult<()>,
) -> ApiResult<organisation::Model> {
    let (by, profile) = (by.clone(), profile.clone());
    let today = cx.settings.today();
    write(&cx.db, async move |tx| {
        let current = lock_organisation(tx, id).await?;
        if_match(current.version)?;
        let status = dom::VerificationStatus::parse(&current.status)
            .ok_or_else(|| ApiError::new(ErrorCode::Internal))?;
        let identifiers_changed = profile.siret.as_ref().map(|s| s.as_str())
            != current.siret.as_deref()
            || profile.rna.as_ref().map(|s| s.as_str()) != current.rna.as_deref();
        // What the decisions proved before the change; an item whose claimed value changes is
        // pending again, and the organisation with it when that item conditions its identity.
        if identifiers_changed {
            check_registers(tx, &profile, Some(&current)).await?;
        }
        let before = verification::items(tx, &current, today).await?;
        let changed = organisation::Model {
            siret: profile.siret.as_ref().map(|s| s.as_str().to_owned()),
            rna: profile.rna.as_ref().map(|s| s.as_str().to_owned()),
            public_body_type: profile.public_body_type.map(|t| t.as_str().to_owned()),
            esus_reference: profile
                .esus_reference
                .as_ref()
                .map(|t| t.as_str().to_owned()),
            esus_expires_on: profile.esus_expires_on,
            beneficiary_category: profile.beneficiary_category.map(|c| c.as_str().to_owned()),
            public_utility: profile.public_utility,
            ..current.clone()
        };
        let reopened = crate::commands::verification::reopened(&before, &changed);
        let identity_lost = reopened.iter().any(|i| {
            reemploi_domain::verification::CheckItem::parse(i)
                .is_some_and(|i| i.conditions_identity())
        });
        let back_to_pending =
            (identifiers_changed || identity_lost) && status == dom::VerificationStatus::Verified;
        let mut am: organisation::ActiveModel = Default::default();
        profile_columns(&mut am, &profile);
        am.updated_at = Set(store::now());
        am.version = Set(current.version + 1);
        if back_to_pending {
            am.status = Set(dom::VerificationStatus::Pending.as_str().to_owned());
        }
        let updated = organisation::Entity::update_many()
            .set(am)
            .filter(organisation::Column::Id.eq(id))
            .filter(organisation::Column::Version.eq(current.version))
            .exec(tx)
            .await
            .map_err(conflict_or)?;
        if updated.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::PreconditionFailed));
        }
        crate::search::indexer::organisation_changed(tx, id).await?;
        org_event(
            tx,
            id,
            by.actor_ref.clone(),
            "organisation_updated",
            serde_json::json!({
                "name": profile.name.as_str(),
                "siret": profile.siret.as_ref().map(|s| s.as_str()),
                "rna": profile.rna.as_ref().map(|s| s.as_str()),
                "back_to_pending": back_to_pending,
                "reopened": reopened,
            }),
        )
        .await?;
        find_organisation(tx, id).await
    })
    .await
}

/// The operator verifies (from `pending` or `suspended`) or suspends (from `pending` or
/// `verified`, with a reason its members read) an organisation.
pub async fn change_status(
    cx: &AppState,
    by: &By,
    id: Uuid,
    action: VerificationAction,
    reason: Option<String>,
) -> ApiResult<organisation::Model> {
    let by = by.clone();
    write(&cx.db, async move |tx| {
        let current = lock_organisation(tx, id).await?;
        if current.kind == dom::OrganisationKind::Operator.as_str() {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                "L'opérateur de la plateforme n'est pas soumis à vérification.",
                "The platform operator is not subject to verification.",
            ));
        }
        let from = dom::VerificationStatus::parse(&current.status)
            .ok_or_else(|| ApiError::new(ErrorCode::Internal))?;
        let Some(to) = from.apply(action) else {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                format!("Impossible depuis le statut « {} ».", from.as_str()),
                format!("Not possible from status `{}`.", from.as_str()),
            ));
        };
        let updated = organisation::Entity::update_many()
            .col_expr(organisation::Column::Status, Expr::value(to.as_str()))
            .col_expr(
                organisation::Column::StatusReason,
                Expr::value(reason.clone()),
            )
            .col_expr(
                organisation::Column::Version,
                Expr::value(current.version + 1),
            )
            .col_expr(organisation::Column::UpdatedAt, Expr::value(store::now()))
            .filter(organisation::Column::Id.eq(id))
            .filter(organisation::Column::Version.eq(current.version))
            .exec(tx)
            .await?;
        if updated.rows_affected != 1 {
            return Err(ApiError::new(ErrorCode::Conflict));
        }
        crate::search::indexer::organisation_changed(tx, id).await?;
        let kind = match action {
            VerificationAction::Verify => "organisation_verified",
            VerificationAction::Suspend => "organisation_suspended",
        };
        org_event(
            tx,
            id,
            by.actor_ref.clone(),
            kind,
            serde_json::json!({ "from": from.as_str(), "to": to.as_str(), "reason": reason }),
        )
        .await?;
        find_organisation(tx, id).await
    })
    .await
}
