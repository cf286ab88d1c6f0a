//! Members of an organisation and invitations to join it.

use chrono::{DateTime, Utc};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use reemploi_domain::email::Email;
use reemploi_domain::organisation as dom;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::access::BearerAuth;
use super::pagination::PageRequest;
use super::types::{ApiTags, Created, NoContent, Role, Str};
use crate::commands::members;
use crate::commands::organisations::by_member;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::entities::{invitation, membership};
use crate::store::organisations::{
    find_invitation, find_organisation, find_user, invitations_select, members_select,
};

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
    /// Language of the mail and of the account it creates (`fr` by default, or the language
    /// the person already chose).
    pub language: Option<super::credentials::Language>,
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

async fn member_response<C: ConnectionTrait>(
    db: &C,
    m: membership::Model,
) -> ApiResult<MemberResponse> {
    let u = find_user(db, m.user_id)
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
        let select = members_select(id.0);
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
        let actor = auth.0.authorize("update_member", Some(id.0))?;
        let by = by_member(&auth.0, id.0, actor);
        let m =
            members::update_member(&self.state, &by, id.0, user_id.0, body.0.role.into()).await?;
        Ok(Json(member_response(&self.state.db, m).await?))
    }

    /// Remove a member
    ///
    /// The person loses access to the organisation at once: their sessions are signed out and
    /// the API keys they created for it are revoked. The last admin cannot be removed.
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
        let actor = auth.0.authorize("remove_member", Some(id.0))?;
        let by = by_member(&auth.0, id.0, actor);
        members::remove_member(&self.state, &by, id.0, user_id.0).await?;
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
        let actor = auth.0.authorize("create_invitation", Some(id.0))?;
        let email = Email::parse(&body.0.email).map_err(|r| ApiError::field("email", r))?;
        let inviter = auth.0.user_id().ok_or_else(ApiError::forbidden)?;
        let by = by_member(&auth.0, id.0, actor);
        let role: dom::Role = body.0.role.into();
        let inv = members::create_invitation(
            &self.state,
            &by,
            id.0,
            inviter,
            &email,
            role,
            body.0.language.map(Into::into),
        )
        .await?;
        let location = format!("/v1/organisations/{}/invitations/{}", id.0, inv.id);
        Ok(Created::Created(Json(inv.into()), location))
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
        let select = invitations_select(id.0);
        let (rows, next_cursor) = page
            .fetch(&self.state.db, select, invitation::Column::Id, |m| m.id)
            .await?;
        Ok(Json(InvitationPage {
            items: rows.into_iter().map(Into::into).collect(),
            next_cursor,
        }))
    }

    /// Read an invitation
    ///
    /// Its e-mail, role, expiry and whether it was accepted or revoked (never its token).
    #[oai(
        path = "/organisations/:id/invitations/:invitation_id",
        method = "get",
        operation_id = "get_invitation"
    )]
    async fn get_invitation(
        &self,
        auth: BearerAuth,
        id: Path<Uuid>,
        invitation_id: Path<Uuid>,
    ) -> ApiResult<Json<InvitationResponse>> {
        auth.0.authorize("get_invitation", Some(id.0))?;
        let inv = find_invitation(&self.state.db, id.0, invitation_id.0).await?;
        Ok(Json(inv.into()))
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
        let actor = auth.0.authorize("revoke_invitation", Some(id.0))?;
        let by = by_member(&auth.0, id.0, actor);
        members::revoke_invitation(&self.state, &by, id.0, invitation_id.0).await?;
        Ok(NoContent::NoContent)
    }
}
