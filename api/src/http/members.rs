//! Members of an organisation and invitations to join it.

use chrono::{DateTime, TimeDelta, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::email::Email;
use reemploi_domain::organisation as dom;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
};
use uuid::Uuid;

use super::access::BearerAuth;
use super::organisations::{find_organisation, org_event};
use super::pagination::PageRequest;
use super::types::{ApiTags, Created, NoContent, Role, Str};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::mail::Mail;
use crate::security;
use crate::state::AppState;
use crate::store::entities::{invitation, membership, organisation, user};
use crate::store::outbox::{self, Topic};
use crate::store::{self, begin_write};

/// A member of an organisation.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MemberResponse {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// A page of members.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MemberPage {
    pub items: Vec<MemberResponse>,
    pub next_cursor: Option<String>,
}

/// A change of a member's role.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UpdateMemberRequest {
    pub role: Role,
}

/// An invitation to create.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateInvitationRequest {
    /// Where the invitation is mailed.
    #[oai(validator(max_length = 254))]
    pub email: Str,
    pub role: Role,
}

/// An invitation (its token is only ever mailed).
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InvitationResponse {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub invited_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A page of invitations.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InvitationPage {
    pub items: Vec<InvitationResponse>,
    pub next_cursor: Option<String>,
}

fn role_of(s: &str) -> Role {
    dom::Role::parse(s).unwrap_or(dom::Role::Agent).into()
}

impl From<invitation::Model> for InvitationResponse {
    fn from(m: invitation::Model) -> Self {
        Self {
            id: m.id,
            email: m.email,
            role: role_of(&m.role),
            invited_by: m.invited_by,
            created_at: m.created_at,
            expires_at: m.expires_at,
            accepted_at: m.accepted_at,
            revoked_at: m.revoked_at,
        }
    }
}

/// Serialises changes to an organisation's membership: on PostgreSQL this row lock is held until
/// commit (SQLite's write transaction already excludes other writers).
async fn lock_organisation(txn: &crate::store::tx::Tx, id: Uuid) -> ApiResult<()> {
    let locked = organisation::Entity::update_many()
        .col_expr(
            organisation::Column::UpdatedAt,
            Expr::col(organisation::Column::UpdatedAt),
        )
        .filter(organisation::Column::Id.eq(id))
        .exec(txn)
        .await?;
    if locked.rows_affected == 0 {
        return Err(ApiError::not_found());
    }
    Ok(())
}

async fn admin_count<C: ConnectionTrait>(db: &C, org: Uuid) -> ApiResult<u64> {
    Ok(membership::Entity::find()
        .filter(membership::Column::OrganisationId.eq(org))
        .filter(membership::Column::Role.eq(dom::Role::Admin.as_str()))
        .count(db)
        .await?)
}

async fn find_membership<C: ConnectionTrait>(
    db: &C,
    org: Uuid,
    user: Uuid,
) -> ApiResult<membership::Model> {
    membership::Entity::find()
        .filter(membership::Column::OrganisationId.eq(org))
        .filter(membership::Column::UserId.eq(user))
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn member_response<C: ConnectionTrait>(
    db: &C,
    m: membership::Model,
) -> ApiResult<MemberResponse> {
    let u = user::Entity::find_by_id(m.user_id)
        .one(db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(MemberResponse {
        user_id: u.id,
        email: u.email,
        display_name: u.display_name,
        role: role_of(&m.role),
        joined_at: m.created_at,
    })
}

pub struct MembersApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Members")]
impl MembersApi {
    /// List members
    ///
    /// The members of the organisation with their roles, oldest first.
    #[oai(
        path = "/organisations/:id/members",
        method = "get",
        operation_id = "list_members"
    )]
    async fn list_members(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<MemberPage>> {
        auth.0.authorize("list_members", Some(id.0))?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        find_organisation(&self.state.db, id.0).await?;
        let select = membership::Entity::find().filter(membership::Column::OrganisationId.eq(id.0));
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, membership::Column::Id, |m| m.id)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for m in rows {
            items.push(member_response(&self.state.db, m).await?);
        }
        Ok(Json(MemberPage { items, next_cursor }))
    }

    /// Change a member's role
    ///
    /// An organisation always keeps at least one admin (422 `last_admin`).
    #[oai(
        path = "/organisations/:id/members/:user_id",
        method = "put",
        operation_id = "update_member"
    )]
    async fn update_member(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
        body: Json<UpdateMemberRequest>,
    ) -> ApiResult<Json<MemberResponse>> {
        auth.0.authorize("update_member", Some(id.0))?;
        let role: dom::Role = body.0.role.into();
        let txn = begin_write(&self.state.db).await?;
        lock_organisation(&txn, id.0).await?;
        let m = find_membership(&txn, id.0, user_id.0).await?;
        if m.role == dom::Role::Admin.as_str()
            && role != dom::Role::Admin
            && admin_count(&txn, id.0).await? <= 1
        {
            return Err(ApiError::new(ErrorCode::LastAdmin));
        }
        membership::Entity::update_many()
            .col_expr(membership::Column::Role, Expr::value(role.as_str()))
            .filter(membership::Column::Id.eq(m.id))
            .exec(&txn)
            .await?;
        org_event(
            &txn,
            id.0,
            auth.0.actor_ref(),
            "member_role_changed",
            serde_json::json!({ "user_id": user_id.0, "from": m.role, "to": role.as_str() }),
        )
        .await?;
        let m = find_membership(&txn, id.0, user_id.0).await?;
        let resp = member_response(&txn, m).await?;
        txn.commit().await?;
        Ok(Json(resp))
    }

    /// Remove a member
    ///
    /// The person loses access to the organisation at once. The last admin cannot be removed.
    #[oai(
        path = "/organisations/:id/members/:user_id",
        method = "delete",
        operation_id = "remove_member"
    )]
    async fn remove_member(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        user_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        auth.0.authorize("remove_member", Some(id.0))?;
        let txn = begin_write(&self.state.db).await?;
        lock_organisation(&txn, id.0).await?;
        let m = find_membership(&txn, id.0, user_id.0).await?;
        if m.role == dom::Role::Admin.as_str() && admin_count(&txn, id.0).await? <= 1 {
            return Err(ApiError::new(ErrorCode::LastAdmin));
        }
        membership::Entity::delete_by_id(m.id).exec(&txn).await?;
        org_event(
            &txn,
            id.0,
            auth.0.actor_ref(),
            "member_removed",
            serde_json::json!({ "user_id": user_id.0, "role": m.role }),
        )
        .await?;
        txn.commit().await?;
        Ok(NoContent::NoContent)
    }

    /// Invite a member
    ///
    /// Mails a one-time link to join the organisation with the given role. A pending invitation
    /// to the same address is replaced.
    #[oai(
        path = "/organisations/:id/invitations",
        method = "post",
        operation_id = "create_invitation"
    )]
    async fn create_invitation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<CreateInvitationRequest>,
    ) -> ApiResult<Created<InvitationResponse>> {
        auth.0.authorize("create_invitation", Some(id.0))?;
        let email = Email::parse(&body.0.email).map_err(|r| ApiError::field("email", r))?;
        let role: dom::Role = body.0.role.into();
        let inviter = auth.0.user_id().ok_or_else(ApiError::forbidden)?;
        let state = &self.state;
        let now = store::now();
        let token = security::new_token(security::INVITATION_PREFIX);
        let txn = begin_write(&state.db).await?;
        let org = find_organisation(&txn, id.0).await?;
        if let Some(existing) = user::Entity::find()
            .filter(user::Column::Email.eq(email.as_str()))
            .one(&txn)
            .await?
            && find_membership(&txn, id.0, existing.id).await.is_ok()
        {
            return Err(ApiError::new(ErrorCode::AlreadyMember));
        }
        invitation::Entity::update_many()
            .col_expr(invitation::Column::RevokedAt, Expr::value(Some(now)))
            .filter(invitation::Column::OrganisationId.eq(id.0))
            .filter(invitation::Column::Email.eq(email.as_str()))
            .filter(invitation::Column::AcceptedAt.is_null())
            .filter(invitation::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?;
        let inv_id = store::new_id();
        let expires_at = now + TimeDelta::hours(i64::from(state.settings.invitation_ttl_hours));
        invitation::Entity::insert(invitation::ActiveModel {
            id: Set(inv_id),
            organisation_id: Set(id.0),
            email: Set(email.as_str().to_owned()),
            role: Set(role.as_str().to_owned()),
            token_hash: Set(security::token_hash(&token)),
            invited_by: Set(inviter),
            created_at: Set(now),
            expires_at: Set(expires_at),
            accepted_at: Set(None),
            revoked_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        let role_fr = match role {
            dom::Role::Admin => "administrateur",
            dom::Role::Agent => "agent",
        };
        let mail = Mail {
            to: email.as_str().to_owned(),
            subject: format!("Invitation à rejoindre {} sur Réemploi", org.name),
            body: format!(
                "Bonjour,\n\nVous êtes invité·e à rejoindre « {name} » sur Réemploi en tant que {role_fr}.\n\n\
                 Votre code d'invitation : {token}\n\n\
                 Pour l'accepter, envoyez-le avec votre nom et un mot de passe à {url}/v1/invitations/accept \
                 (ou utilisez l'application Réemploi). Il expire le {expires} (UTC) et ne sert qu'une fois.\n\n\
                 Si vous n'attendiez pas cette invitation, ignorez ce message.\n",
                name = org.name,
                url = state.settings.public_url,
                expires = expires_at.format("%d/%m/%Y à %H:%M"),
            ),
        };
        outbox::enqueue(&txn, Topic::Mail, &mail).await?;
        org_event(
            &txn,
            id.0,
            auth.0.actor_ref(),
            "invitation_created",
            serde_json::json!({ "invitation_id": inv_id, "email": email.as_str(), "role": role.as_str() }),
        )
        .await?;
        let inv = invitation::Entity::find_by_id(inv_id)
            .one(&txn)
            .await?
            .ok_or_else(ApiError::not_found)?;
        txn.commit().await?;
        Ok(Created::Created(
            Json(inv.into()),
            format!("/v1/organisations/{}/invitations/{inv_id}", id.0),
        ))
    }

    /// List invitations
    ///
    /// Pending, accepted and revoked invitations of the organisation, oldest first.
    #[oai(
        path = "/organisations/:id/invitations",
        method = "get",
        operation_id = "list_invitations"
    )]
    async fn list_invitations(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        #[oai(validator(max_length = 200))] cursor: Query<Option<String>>,
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<InvitationPage>> {
        auth.0.authorize("list_invitations", Some(id.0))?;
        let page = PageRequest::parse(cursor.0.as_deref(), limit.0)?;
        find_organisation(&self.state.db, id.0).await?;
        let select = invitation::Entity::find().filter(invitation::Column::OrganisationId.eq(id.0));
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, invitation::Column::Id, |m| m.id)
            .await?;
        Ok(Json(InvitationPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Revoke an invitation
    ///
    /// The mailed token stops working. Accepted invitations cannot be revoked (remove the member).
    #[oai(
        path = "/organisations/:id/invitations/:invitation_id",
        method = "delete",
        operation_id = "revoke_invitation"
    )]
    async fn revoke_invitation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        invitation_id: Path<Uuid>,
    ) -> ApiResult<NoContent> {
        auth.0.authorize("revoke_invitation", Some(id.0))?;
        let txn = begin_write(&self.state.db).await?;
        let inv = invitation::Entity::find_by_id(invitation_id.0)
            .one(&txn)
            .await?
            .filter(|i| i.organisation_id == id.0)
            .ok_or_else(ApiError::not_found)?;
        if inv.accepted_at.is_some() {
            return Err(ApiError::new(ErrorCode::InvalidTransition).detail(
                "Cette invitation a déjà été acceptée.",
                "This invitation was already accepted.",
            ));
        }
        if inv.revoked_at.is_none() {
            invitation::Entity::update_many()
                .col_expr(
                    invitation::Column::RevokedAt,
                    Expr::value(Some(store::now())),
                )
                .filter(invitation::Column::Id.eq(inv.id))
                .exec(&txn)
                .await?;
            org_event(
                &txn,
                id.0,
                auth.0.actor_ref(),
                "invitation_revoked",
                serde_json::json!({ "invitation_id": inv.id }),
            )
            .await?;
        }
        txn.commit().await?;
        Ok(NoContent::NoContent)
    }
}
