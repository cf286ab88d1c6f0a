//! Administration tasks shared by the command line and the tests: bootstrapping the operator.

use anyhow::bail;
use reemploi_domain::email::Email;
use reemploi_domain::organisation::{OrganisationKind, Role, VerificationStatus, check_password};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use uuid::Uuid;

use crate::store::entities::{membership, organisation, user};
use crate::store::organisations::{
    find_membership, operator_organisation, org_event, user_by_email,
};
use crate::store::tx::Tx;

/// What [`create_operator`] did.
#[derive(Debug, Clone)]
pub struct OperatorCreated {
    pub email: String,
    pub user_id: Uuid,
    pub organisation_id: Uuid,
    /// The password generated for a new account when none was given.
    pub generated_password: Option<String>,
}

/// Creates the platform operator organisation if it does not exist, and makes the account of
/// `email` (created with `password`, or a generated one) an admin of it. Idempotent: each
/// change appends its event to the operator's stream, and a run that changes nothing writes
/// nothing.
pub async fn create_operator(
    db: &DatabaseConnection,
    email: &str,
    name: &str,
    password: Option<String>,
) -> anyhow::Result<OperatorCreated> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("invalid e-mail: {e}"))?;
    let existing_user = user_by_email(db, email.as_str()).await?;
    let mut generated = None;
    let password_hash = if existing_user.is_some() {
        None
    } else {
        let password = match password {
            Some(p) => p,
            None => {
                let p = crate::security::new_token("");
                generated = Some(p.clone());
                p
            }
        };
        if let Err(e) = check_password(&password) {
            bail!("password refused: {e}");
        }
        Some(crate::security::hash_password(&password)?)
    };

    let txn = Tx::begin(db).await?;
    let now = crate::store::now();
    let operator = operator_organisation(&txn).await?;
    let org_id = match operator {
        Some(o) => o.id,
        None => {
            let id = crate::store::new_id();
            organisation::Entity::insert(organisation::ActiveModel {
                id: Set(id),
                kind: Set(OrganisationKind::Operator.as_str().into()),
                name: Set("Opérateur de la plateforme Réemploi".into()),
                siren: Set(None),
                siret: Set(None),
                rna: Set(None),
                insee_code: Set(String::new()),
                departement: Set(String::new()),
                address: Set(String::new()),
                postcode: Set(String::new()),
                city: Set(String::new()),
                latitude: Set(None),
                longitude: Set(None),
                contact_email: Set(Some(email.as_str().to_owned())),
                phone: Set(None),
                status: Set(VerificationStatus::Verified.as_str().into()),
                status_reason: Set(None),
                public_body_type: Set(None),
                esus_reference: Set(None),
                esus_expires_on: Set(None),
                beneficiary_category: Set(None),
                public_utility: Set(false),
                statutory_purpose: Set(None),
                fair_share_cap: Set(None),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .exec_without_returning(&txn)
            .await?;
            org_event(
                &txn,
                id,
                "system".into(),
                "operator_bootstrapped",
                serde_json::json!({}),
            )
            .await?;
            id
        }
    };
    let user_id = match existing_user {
        Some(u) => u.id,
        None => {
            let id = crate::store::new_id();
            user::Entity::insert(user::ActiveModel {
                id: Set(id),
                email: Set(email.as_str().to_owned()),
                display_name: Set(name.to_owned()),
                password_hash: Set(password_hash),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            })
            .exec_without_returning(&txn)
            .await?;
            org_event(
                &txn,
                org_id,
                "system".into(),
                "operator_account_created",
                serde_json::json!({ "user_id": id }),
            )
            .await?;
            id
        }
    };
    if find_membership(&txn, org_id, user_id).await.is_err() {
        membership::Entity::insert(membership::ActiveModel {
            id: Set(crate::store::new_id()),
            user_id: Set(user_id),
            organisation_id: Set(org_id),
            role: Set(Role::Admin.as_str().into()),
            created_at: Set(now),
        })
        .exec_without_returning(&txn)
        .await?;
        org_event(
            &txn,
            org_id,
            "system".into(),
            "member_added",
            serde_json::json!({ "user_id": user_id, "role": "admin" }),
        )
        .await?;
    }
    // Run again on an existing operator admin, nothing changed: nothing to commit.
    if txn.events() == 0 {
        txn.rollback().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    } else {
        txn.commit().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(OperatorCreated {
        email: email.as_str().to_owned(),
        user_id,
        organisation_id: org_id,
        generated_password: generated,
    })
}
