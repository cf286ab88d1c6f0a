//! Authorisation in one place. Every operation of the API has one row in [`RULES`] saying who may
//! call it; handlers ask [`Caller::authorize`] with their operation id, so the table is both the
//! declaration (published in the spec as `x-access`) and what is enforced.
//!
//! Reading another organisation's private resource answers 404 (its existence is not revealed);
//! acting on it answers 403.

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use reemploi_domain::organisation::{Actor, Allowed, OrganisationKind, Role, VerificationStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::ApiError;
use crate::security;
use crate::state::AppState;
use crate::store::entities::{api_key, membership, organisation, session};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Any signed-in user or API key.
    SignedIn,
    /// Members of the organisation named in the path, of these kinds and roles. `write` decides
    /// whether an outsider gets 404 (read) or 403 (write); the platform operator may read.
    Organisation { allowed: Allowed, write: bool },
    /// Members of the platform operator.
    Operator { write: bool },
}

const ALL_KINDS: &[OrganisationKind] = &OrganisationKind::ALL;
const ADMIN: &[Role] = &[Role::Admin];
const ANY_ROLE: &[Role] = &Role::ALL;

const fn org(roles: &'static [Role], write: bool) -> Access {
    Access::Organisation {
        allowed: Allowed {
            kinds: ALL_KINDS,
            roles,
        },
        write,
    }
}

/// The declaration of every operation, by operation id.
pub const RULES: &[(&str, Access)] = &[
    // Health and reference data.
    ("check_live", Access::Public),
    ("check_ready", Access::Public),
    ("list_problems", Access::Public),
    // Accounts.
    ("register_organisation", Access::Public),
    ("login", Access::Public),
    ("accept_invitation", Access::Public),
    ("logout", Access::SignedIn),
    ("get_me", Access::SignedIn),
    // Organisations.
    ("get_organisation", org(ANY_ROLE, false)),
    ("update_organisation", org(ADMIN, true)),
    ("list_organisations", Access::Operator { write: false }),
    ("verify_organisation", Access::Operator { write: true }),
    ("suspend_organisation", Access::Operator { write: true }),
    // Members and invitations.
    ("list_members", org(ANY_ROLE, false)),
    ("update_member", org(ADMIN, true)),
    ("remove_member", org(ADMIN, true)),
    ("create_invitation", org(ADMIN, true)),
    ("list_invitations", org(ADMIN, false)),
    ("revoke_invitation", org(ADMIN, true)),
    // API keys.
    ("create_api_key", org(ADMIN, true)),
    ("list_api_keys", org(ADMIN, false)),
    ("revoke_api_key", org(ADMIN, true)),
    // Sites.
    ("list_sites", org(ANY_ROLE, false)),
    ("get_site", org(ANY_ROLE, false)),
    ("create_site", org(ANY_ROLE, true)),
    ("update_site", org(ANY_ROLE, true)),
    ("archive_site", org(ADMIN, true)),
    // Audit log.
    ("list_organisation_events", org(ADMIN, false)),
    ("verify_organisation_events", org(ADMIN, false)),
];

/// The declaration of `operation_id`, if any.
pub fn rule(operation_id: &str) -> Option<Access> {
    RULES
        .iter()
        .find(|(op, _)| *op == operation_id)
        .map(|(_, a)| *a)
}

/// The declaration as published in the spec (`x-access`).
pub fn describe(access: Access) -> serde_json::Value {
    let names = |kinds: &[OrganisationKind]| kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>();
    let roles = |roles: &[Role]| roles.iter().map(|r| r.as_str()).collect::<Vec<_>>();
    match access {
        Access::Public => serde_json::json!({ "public": true }),
        Access::SignedIn => serde_json::json!({ "public": false, "signed_in": true }),
        Access::Organisation { allowed, write } => serde_json::json!({
            "public": false,
            "scope": "organisation_in_path",
            "kinds": names(allowed.kinds),
            "roles": roles(allowed.roles),
            "operator_reads": !write,
        }),
        Access::Operator { .. } => serde_json::json!({
            "public": false,
            "kinds": ["operator"],
            "roles": ["admin", "agent"],
        }),
    }
}

/// One organisation the caller belongs to.
#[derive(Debug, Clone)]
pub struct CallerMembership {
    pub organisation_id: Uuid,
    pub kind: OrganisationKind,
    pub role: Role,
    pub status: VerificationStatus,
}

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User { id: Uuid, session_id: Uuid },
    ApiKey { id: Uuid, organisation_id: Uuid },
}

/// An authenticated caller and the organisations it may act through.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub memberships: Vec<CallerMembership>,
}

impl Caller {
    /// The actor reference written in events (`user/<id>`, `api_key/<id>`).
    pub fn actor_ref(&self) -> String {
        match &self.principal {
            Principal::User { id, .. } => format!("user/{id}"),
            Principal::ApiKey { id, .. } => format!("api_key/{id}"),
        }
    }

    pub fn user_id(&self) -> Option<Uuid> {
        match &self.principal {
            Principal::User { id, .. } => Some(*id),
            Principal::ApiKey { .. } => None,
        }
    }

    pub fn membership(&self, organisation_id: Uuid) -> Option<&CallerMembership> {
        self.memberships
            .iter()
            .find(|m| m.organisation_id == organisation_id)
    }

    pub fn is_operator(&self) -> bool {
        self.memberships
            .iter()
            .any(|m| m.kind == OrganisationKind::Operator)
    }

    /// Checks the caller against the declaration of `operation_id`, for the organisation in the
    /// path when the operation has one. Returns the actor it acts as.
    pub fn authorize(
        &self,
        operation_id: &str,
        organisation_id: Option<Uuid>,
    ) -> Result<Option<Actor>, ApiError> {
        let Some(access) = rule(operation_id) else {
            tracing::error!(operation = operation_id, "operation without an access rule");
            return Err(ApiError::forbidden());
        };
        match access {
            Access::Public | Access::SignedIn => Ok(None),
            Access::Operator { .. } => {
                let op = self
                    .memberships
                    .iter()
                    .find(|m| m.kind == OrganisationKind::Operator)
                    .ok_or_else(ApiError::forbidden)?;
                Ok(Some(Actor {
                    kind: op.kind,
                    role: op.role,
                }))
            }
            Access::Organisation { allowed, write } => {
                let Some(org_id) = organisation_id else {
                    return Err(ApiError::forbidden());
                };
                match self.membership(org_id) {
                    Some(m) => {
                        let actor = Actor {
                            kind: m.kind,
                            role: m.role,
                        };
                        if allowed.permits(actor) {
                            Ok(Some(actor))
                        } else {
                            Err(ApiError::forbidden())
                        }
                    }
                    None if !write && self.is_operator() => Ok(None),
                    None if write => Err(ApiError::forbidden()),
                    None => Err(ApiError::not_found()),
                }
            }
        }
    }
}

/// Bearer token: a session token from `POST /v1/auth/login` or an organisation API key.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| poem::Error::from(ApiError::new(crate::error::ErrorCode::Internal)))?;
    resolve(state, &bearer.token)
        .await
        .map_err(poem::Error::from)
}

/// Finds who a token belongs to.
pub async fn resolve(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let hash = security::token_hash(token);
    let now = crate::store::now();
    if token.starts_with(security::SESSION_PREFIX) {
        let session = session::Entity::find()
            .filter(session::Column::TokenHash.eq(hash))
            .one(&state.db)
            .await?
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
            .ok_or_else(ApiError::unauthenticated)?;
        let memberships = memberships_of(state, session.user_id).await?;
        Ok(Caller {
            principal: Principal::User {
                id: session.user_id,
                session_id: session.id,
            },
            memberships,
        })
    } else if token.starts_with(security::API_KEY_PREFIX) {
        let key = api_key::Entity::find()
            .filter(api_key::Column::TokenHash.eq(hash))
            .one(&state.db)
            .await?
            .filter(|k| k.revoked_at.is_none() && k.expires_at.is_none_or(|e| e > now))
            .ok_or_else(ApiError::unauthenticated)?;
        let org = organisation::Entity::find_by_id(key.organisation_id)
            .one(&state.db)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let membership = CallerMembership {
            organisation_id: org.id,
            kind: OrganisationKind::parse(&org.kind).ok_or_else(ApiError::unauthenticated)?,
            role: Role::parse(&key.role).unwrap_or(Role::Agent),
            status: VerificationStatus::parse(&org.status).unwrap_or(VerificationStatus::Pending),
        };
        Ok(Caller {
            principal: Principal::ApiKey {
                id: key.id,
                organisation_id: org.id,
            },
            memberships: vec![membership],
        })
    } else {
        Err(ApiError::unauthenticated())
    }
}

/// The memberships of a user, with their organisations' kinds and statuses.
pub async fn memberships_of(
    state: &AppState,
    user_id: Uuid,
) -> Result<Vec<CallerMembership>, ApiError> {
    let rows = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .find_also_related(organisation::Entity)
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(m, org)| {
            let org = org?;
            Some(CallerMembership {
                organisation_id: org.id,
                kind: OrganisationKind::parse(&org.kind)?,
                role: Role::parse(&m.role)?,
                status: VerificationStatus::parse(&org.status)?,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_are_declared_once() {
        let mut seen = std::collections::HashSet::new();
        for (op, _) in RULES {
            assert!(seen.insert(*op), "{op} declared twice");
        }
    }
}
