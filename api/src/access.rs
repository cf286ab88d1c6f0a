//! Authorisation in one place. Every operation of the API has one row in [`RULES`] saying who may
//! call it; handlers and commands ask [`Caller::authorize`] with their operation id, so the table
//! is both the declaration (published in the spec as `x-access`) and what is enforced.
//!
//! A suspended organisation keeps read access to its own data (and may export it); every write
//! declared in the table is refused with 403 `organisation_suspended`.
//!
//! Reading another organisation's private resource answers 404 (its existence is not revealed);
//! acting on it answers 403.

use reemploi_domain::organisation::{Actor, Allowed, OrganisationKind, Role, VerificationStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::ApiError;
use crate::security;
use crate::state::AppState;
use crate::store::entities::{api_key, membership, organisation};

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
    /// Members of an organisation related to the resource in the path (the owner of a device,
    /// its custodian, the body that published a lot…), of these kinds and roles. Outsiders get
    /// 404 on reads and 403 on writes; the operator may read.
    Related { allowed: Allowed, write: bool },
    /// Members of one of their organisations of these kinds (chosen with `organisation_id` when
    /// they belong to several).
    Acting { allowed: Allowed, write: bool },
}

const ALL_KINDS: &[OrganisationKind] = &OrganisationKind::ALL;
const ADMIN: &[Role] = &[Role::Admin];
const ANY_ROLE: &[Role] = &Role::ALL;

const PUBLIC_BODY: &[OrganisationKind] = &[OrganisationKind::PublicBody];
const REFURBISHER: &[OrganisationKind] = &[OrganisationKind::Refurbisher];
const SUPPLY: &[OrganisationKind] = &[OrganisationKind::PublicBody, OrganisationKind::Refurbisher];
const ASSOCIATION: &[OrganisationKind] = &[OrganisationKind::Association];
/// Who browses the catalogue: associations, and refurbishers (their own and others' offers).
const DEMAND: &[OrganisationKind] = &[OrganisationKind::Association, OrganisationKind::Refurbisher];
const WORKING_KINDS: &[OrganisationKind] = &[
    OrganisationKind::PublicBody,
    OrganisationKind::Refurbisher,
    OrganisationKind::Association,
];

const fn related(
    kinds: &'static [OrganisationKind],
    roles: &'static [Role],
    write: bool,
) -> Access {
    Access::Related {
        allowed: Allowed { kinds, roles },
        write,
    }
}

const fn acting(kinds: &'static [OrganisationKind], roles: &'static [Role], write: bool) -> Access {
    Access::Acting {
        allowed: Allowed { kinds, roles },
        write,
    }
}

/// Members of the refurbisher named in the path, any role.
const fn refurbisher_org(write: bool) -> Access {
    Access::Organisation {
        allowed: Allowed {
            kinds: REFURBISHER,
            roles: ANY_ROLE,
        },
        write,
    }
}

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
    ("update_me", Access::SignedIn),
    ("change_password", Access::SignedIn),
    ("request_email_verification", Access::SignedIn),
    ("logout_everywhere", Access::SignedIn),
    ("request_password_reset", Access::Public),
    ("reset_password", Access::Public),
    ("verify_email", Access::Public),
    // OpenID Connect sign-in.
    ("list_oidc_providers", Access::Public),
    ("start_oidc_sign_in", Access::Public),
    ("finish_oidc_sign_in", Access::Public),
    ("logout_oidc", Access::SignedIn),
    ("get_oidc_policy", org(ANY_ROLE, false)),
    ("set_oidc_policy", org(ADMIN, true)),
    // Organisations.
    ("get_organisation", org(ANY_ROLE, false)),
    ("update_organisation", org(ADMIN, true)),
    ("list_organisations", Access::Operator { write: false }),
    ("verify_organisation", Access::Operator { write: true }),
    ("suspend_organisation", Access::Operator { write: true }),
    // Verification with evidence: members read it, admins upload proofs, the operator decides.
    ("get_verification", org(ANY_ROLE, false)),
    ("upload_verification_document", org(ADMIN, true)),
    ("get_verification_document", org(ANY_ROLE, false)),
    ("decide_verification_item", Access::Operator { write: true }),
    // Members and invitations.
    ("list_members", org(ANY_ROLE, false)),
    ("update_member", org(ADMIN, true)),
    ("remove_member", org(ADMIN, true)),
    ("create_invitation", org(ADMIN, true)),
    ("list_invitations", org(ADMIN, false)),
    ("get_invitation", org(ADMIN, false)),
    ("revoke_invitation", org(ADMIN, true)),
    // API keys.
    ("create_api_key", org(ADMIN, true)),
    ("list_api_keys", org(ADMIN, false)),
    ("get_api_key", org(ADMIN, false)),
    ("revoke_api_key", org(ADMIN, true)),
    // Sites.
    ("list_sites", org(ANY_ROLE, false)),
    ("get_site", org(ANY_ROLE, false)),
    ("create_site", org(ANY_ROLE, true)),
    ("update_site", org(ANY_ROLE, true)),
    ("archive_site", org(ADMIN, true)),
    // Audit log.
    // The event feed: every member may read it (integrations use agent API keys).
    ("list_organisation_events", org(ANY_ROLE, false)),
    ("verify_organisation_events", org(ADMIN, false)),
    // Webhooks.
    ("create_webhook", org(ADMIN, true)),
    ("list_webhooks", org(ADMIN, false)),
    ("get_webhook", org(ADMIN, false)),
    ("update_webhook", org(ADMIN, true)),
    ("delete_webhook", org(ADMIN, true)),
    ("rotate_webhook_secret", org(ADMIN, true)),
    ("list_webhook_deliveries", org(ADMIN, false)),
    ("redeliver_webhook", org(ADMIN, true)),
    // Inventory.
    ("create_item", acting(PUBLIC_BODY, ANY_ROLE, true)),
    ("list_items", acting(WORKING_KINDS, ANY_ROLE, false)),
    ("get_item", related(WORKING_KINDS, ANY_ROLE, false)),
    ("update_item", related(PUBLIC_BODY, ANY_ROLE, true)),
    (
        "confirm_item_valuation",
        related(PUBLIC_BODY, ANY_ROLE, true),
    ),
    ("override_item_ceiling", Access::Operator { write: true }),
    ("list_item_events", related(WORKING_KINDS, ANY_ROLE, false)),
    (
        "verify_item_events",
        related(WORKING_KINDS, ANY_ROLE, false),
    ),
    ("get_public_item", Access::Public),
    ("list_checkpoints", Access::Public),
    ("get_latest_checkpoint", Access::Public),
    ("get_checkpoint_key", Access::Public),
    ("get_checkpoint", Access::Public),
    ("verify_checkpoint", Access::Public),
    ("take_checkpoint", Access::Operator { write: true }),
    ("export_me", Access::SignedIn),
    ("erase_me", Access::SignedIn),
    ("erase_user", Access::Operator { write: true }),
    // QR labels: the public body of the devices, or the refurbisher holding them.
    ("get_lot_labels", related(SUPPLY, ANY_ROLE, false)),
    ("print_item_labels", acting(SUPPLY, ANY_ROLE, false)),
    ("get_lifecycle", Access::Public),
    ("import_items", acting(PUBLIC_BODY, ANY_ROLE, true)),
    ("get_import_template", Access::Public),
    ("get_job", related(WORKING_KINDS, ANY_ROLE, false)),
    // Lots, partnerships, claims, collection.
    ("create_lot", acting(PUBLIC_BODY, ANY_ROLE, true)),
    ("list_lots", acting(PUBLIC_BODY, ANY_ROLE, false)),
    ("list_open_lots", acting(REFURBISHER, ANY_ROLE, false)),
    ("search_lots", acting(REFURBISHER, ANY_ROLE, false)),
    ("search_catalogue", acting(DEMAND, ANY_ROLE, false)),
    // Demand side.
    ("get_catalogue_item", acting(DEMAND, ANY_ROLE, false)),
    ("create_reservation", acting(ASSOCIATION, ANY_ROLE, true)),
    ("list_reservations", acting(DEMAND, ANY_ROLE, false)),
    ("get_reservation", related(DEMAND, ANY_ROLE, false)),
    ("cancel_reservation", related(DEMAND, ANY_ROLE, true)),
    ("accept_proposal", related(ASSOCIATION, ANY_ROLE, true)),
    ("decline_proposal", related(ASSOCIATION, ANY_ROLE, true)),
    ("record_handover", related(REFURBISHER, ANY_ROLE, true)),
    ("record_handovers", acting(REFURBISHER, ANY_ROLE, true)),
    ("schedule_handover", related(REFURBISHER, ANY_ROLE, true)),
    ("confirm_receipt", related(ASSOCIATION, ANY_ROLE, true)),
    ("create_request", acting(ASSOCIATION, ANY_ROLE, true)),
    ("list_requests", acting(ASSOCIATION, ANY_ROLE, false)),
    ("list_open_requests", acting(REFURBISHER, ANY_ROLE, false)),
    // The association reads its requests; verified refurbishers read open ones (to propose).
    ("get_request", related(DEMAND, ANY_ROLE, false)),
    ("cancel_request", related(ASSOCIATION, ANY_ROLE, true)),
    ("propose_items", acting(REFURBISHER, ANY_ROLE, true)),
    ("set_fair_share", org(ADMIN, true)),
    ("view_matching", refurbisher_org(false)),
    ("confirm_proposals", refurbisher_org(true)),
    ("get_request_supply", related(ASSOCIATION, ANY_ROLE, false)),
    ("get_lot_yield", related(SUPPLY, ANY_ROLE, false)),
    // Documents.
    ("list_lot_documents", related(SUPPLY, ANY_ROLE, false)),
    ("generate_lot_document", related(SUPPLY, ANY_ROLE, true)),
    ("set_lot_decision", related(PUBLIC_BODY, ANY_ROLE, true)),
    ("get_deliberation_text", related(SUPPLY, ANY_ROLE, false)),
    (
        "list_reservation_documents",
        related(WORKING_KINDS, ANY_ROLE, false),
    ),
    (
        "list_item_documents",
        related(WORKING_KINDS, ANY_ROLE, false),
    ),
    ("get_document", related(WORKING_KINDS, ANY_ROLE, false)),
    ("get_document_pdf", related(WORKING_KINDS, ANY_ROLE, false)),
    ("sign_document", related(WORKING_KINDS, ADMIN, true)),
    ("contest_document", related(WORKING_KINDS, ADMIN, true)),
    ("upload_signed_scan", related(WORKING_KINDS, ANY_ROLE, true)),
    ("attest_signed_scan", related(WORKING_KINDS, ADMIN, true)),
    (
        "list_handover_documents",
        related(WORKING_KINDS, ANY_ROLE, false),
    ),
    ("verify_document", Access::Public),
    ("verify_document_file", Access::Public),
    // Direct cessions (5°, 11°).
    ("create_direct_cession", acting(PUBLIC_BODY, ANY_ROLE, true)),
    ("get_direct_cession", related(PUBLIC_BODY, ANY_ROLE, false)),
    // Impact and compliance.
    ("list_factor_sets", Access::Public),
    ("get_factor_set", Access::Public),
    ("publish_factor_set", Access::Operator { write: true }),
    ("get_impact_report", org(ANY_ROLE, false)),
    ("get_reuse_rate", org(ANY_ROLE, false)),
    ("get_yearly_report", org(ANY_ROLE, false)),
    ("get_open_data", Access::Public),
    ("get_open_data_schema", Access::Public),
    ("get_open_data_package", Access::Public),
    ("get_open_data_table", Access::Public),
    ("get_open_data_snapshot", Access::Public),
    ("get_lot", related(SUPPLY, ANY_ROLE, false)),
    ("update_lot", related(PUBLIC_BODY, ANY_ROLE, true)),
    ("add_lot_items", related(PUBLIC_BODY, ANY_ROLE, true)),
    ("remove_lot_item", related(PUBLIC_BODY, ANY_ROLE, true)),
    ("publish_lot", related(PUBLIC_BODY, ANY_ROLE, true)),
    ("withdraw_lot", related(PUBLIC_BODY, ANY_ROLE, true)),
    ("claim_lot", acting(REFURBISHER, ANY_ROLE, true)),
    ("list_lot_claims", related(PUBLIC_BODY, ANY_ROLE, false)),
    ("get_claim", related(SUPPLY, ANY_ROLE, false)),
    ("list_my_claims", acting(REFURBISHER, ANY_ROLE, false)),
    ("accept_claim", related(PUBLIC_BODY, ANY_ROLE, true)),
    ("reject_claim", related(PUBLIC_BODY, ANY_ROLE, true)),
    ("withdraw_claim", related(REFURBISHER, ANY_ROLE, true)),
    ("record_collection", related(SUPPLY, ANY_ROLE, true)),
    // Workshop.
    ("record_sanitisation", related(REFURBISHER, ANY_ROLE, true)),
    ("record_refurbishment", related(REFURBISHER, ANY_ROLE, true)),
    // The holder: the public body in its inventory, the refurbisher on the bench.
    ("declare_storage_media", related(SUPPLY, ANY_ROLE, true)),
    (
        "attach_sanitisation_report",
        related(REFURBISHER, ANY_ROLE, true),
    ),
    ("get_item_workshop", related(WORKING_KINDS, ANY_ROLE, false)),
    ("get_sanitisation", related(WORKING_KINDS, ANY_ROLE, false)),
    ("get_refurbishment", related(WORKING_KINDS, ANY_ROLE, false)),
    ("get_disposal", related(WORKING_KINDS, ANY_ROLE, false)),
    ("publish_item", related(REFURBISHER, ANY_ROLE, true)),
    // The workshop's tools: the holder (the body in its inventory, the refurbisher on the bench).
    ("submit_hardware_report", related(SUPPLY, ANY_ROLE, true)),
    ("correct_item_specs", related(SUPPLY, ANY_ROLE, true)),
    ("submit_wipe_report", related(REFURBISHER, ANY_ROLE, true)),
    // Batches: the caller's organisation; each device checks it holds it.
    ("submit_hardware_reports", acting(SUPPLY, ANY_ROLE, true)),
    (
        "submit_batch_wipe_report",
        acting(REFURBISHER, ANY_ROLE, true),
    ),
    (
        "record_batch_refurbishments",
        acting(REFURBISHER, ANY_ROLE, true),
    ),
    ("publish_items", acting(REFURBISHER, ANY_ROLE, true)),
    // Exits back to the body's inventory tool.
    ("export_exits_glpi", acting(PUBLIC_BODY, ANY_ROLE, false)),
    ("export_exits_snipeit", acting(PUBLIC_BODY, ANY_ROLE, false)),
    ("unpublish_item", related(REFURBISHER, ANY_ROLE, true)),
    ("override_item_age", Access::Operator { write: true }),
    ("dispose_item", related(SUPPLY, ANY_ROLE, true)),
    ("get_workshop", acting(REFURBISHER, ANY_ROLE, false)),
    ("upload_photo", related(SUPPLY, ANY_ROLE, true)),
    ("list_photos", related(WORKING_KINDS, ANY_ROLE, false)),
    ("get_photo", related(WORKING_KINDS, ANY_ROLE, false)),
    ("delete_photo", related(SUPPLY, ANY_ROLE, true)),
    ("get_blob", Access::Public),
    ("list_refurbishers", acting(PUBLIC_BODY, ANY_ROLE, false)),
    ("create_partnership", acting(PUBLIC_BODY, ADMIN, true)),
    ("list_partnerships", acting(PUBLIC_BODY, ANY_ROLE, false)),
    ("delete_partnership", related(PUBLIC_BODY, ADMIN, true)),
    ("get_partnership", related(SUPPLY, ANY_ROLE, false)),
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
        Access::Related { allowed, write } => serde_json::json!({
            "public": false,
            "scope": "organisation_related_to_resource",
            "kinds": names(allowed.kinds),
            "roles": roles(allowed.roles),
            "operator_reads": !write,
        }),
        Access::Acting { allowed, .. } => serde_json::json!({
            "public": false,
            "scope": "own_organisation",
            "kinds": names(allowed.kinds),
            "roles": roles(allowed.roles),
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
            Access::Related { .. } | Access::Acting { .. } => {
                tracing::error!(
                    operation = operation_id,
                    "use authorize_related or acting_as"
                );
                Err(ApiError::forbidden())
            }
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
                            refuse_if_suspended(m.status, write)?;
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

/// A suspended organisation may read and export its own data, and do nothing else.
fn refuse_if_suspended(status: VerificationStatus, write: bool) -> Result<(), ApiError> {
    if write && status == VerificationStatus::Suspended {
        Err(ApiError::new(
            crate::error::ErrorCode::OrganisationSuspended,
        ))
    } else {
        Ok(())
    }
}

/// The organisation a caller acts for, with its kind and role there.
#[derive(Debug, Clone, Copy)]
pub struct Acting {
    pub organisation_id: Uuid,
    pub actor: Actor,
    pub status: VerificationStatus,
}

impl Acting {
    /// Refuses the action unless the operator verified the organisation.
    pub fn require_verified(&self) -> Result<(), ApiError> {
        if self.status == VerificationStatus::Verified {
            Ok(())
        } else {
            Err(ApiError::new(
                crate::error::ErrorCode::OrganisationNotVerified,
            ))
        }
    }
}

impl Caller {
    /// For `Access::Acting` operations: the caller's organisation of an allowed kind, the one
    /// named by `requested` when given (which must be one of the caller's).
    pub fn acting_as(
        &self,
        operation_id: &str,
        requested: Option<Uuid>,
    ) -> Result<Acting, ApiError> {
        let Some(Access::Acting { allowed, write }) = rule(operation_id) else {
            tracing::error!(operation = operation_id, "not an Acting operation");
            return Err(ApiError::forbidden());
        };
        let to_acting = |m: &CallerMembership| Acting {
            organisation_id: m.organisation_id,
            actor: Actor {
                kind: m.kind,
                role: m.role,
            },
            status: m.status,
        };
        if let Some(org) = requested {
            let m = self.membership(org).ok_or_else(ApiError::forbidden)?;
            return if allowed.permits(Actor {
                kind: m.kind,
                role: m.role,
            }) {
                refuse_if_suspended(m.status, write)?;
                Ok(to_acting(m))
            } else {
                Err(ApiError::forbidden())
            };
        }
        let candidates: Vec<&CallerMembership> = self
            .memberships
            .iter()
            .filter(|m| {
                allowed.permits(Actor {
                    kind: m.kind,
                    role: m.role,
                })
            })
            .collect();
        match candidates.as_slice() {
            [one] => {
                refuse_if_suspended(one.status, write)?;
                Ok(to_acting(one))
            }
            [] => Err(ApiError::forbidden()),
            _ => Err(
                ApiError::field("organisation_id", reemploi_domain::Invalid::Required).detail(
                    "Vous êtes membre de plusieurs organisations : précisez organisation_id.",
                    "You belong to several organisations: give organisation_id.",
                ),
            ),
        }
    }

    /// For `Access::Related` operations: acts through the first of `related` organisations the
    /// caller belongs to with an allowed kind and role. `Ok(None)` is the operator reading.
    pub fn authorize_related(
        &self,
        operation_id: &str,
        related: &[Uuid],
    ) -> Result<Option<Acting>, ApiError> {
        let Some(Access::Related { allowed, write }) = rule(operation_id) else {
            tracing::error!(operation = operation_id, "not a Related operation");
            return Err(ApiError::forbidden());
        };
        let mut member_of_related = false;
        for org in related {
            if let Some(m) = self.membership(*org) {
                member_of_related = true;
                let actor = Actor {
                    kind: m.kind,
                    role: m.role,
                };
                if allowed.permits(actor) {
                    refuse_if_suspended(m.status, write)?;
                    return Ok(Some(Acting {
                        organisation_id: m.organisation_id,
                        actor,
                        status: m.status,
                    }));
                }
            }
        }
        if member_of_related {
            Err(ApiError::forbidden())
        } else if !write && self.is_operator() {
            Ok(None)
        } else if write {
            Err(ApiError::forbidden())
        } else {
            Err(ApiError::not_found())
        }
    }
}

/// Finds who a token belongs to.
pub async fn resolve(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let hash = security::token_hash(token);
    let now = crate::store::now();
    if token.starts_with(security::SESSION_PREFIX) {
        session_caller(state, hash, now).await
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

/// One row of [`session_caller`]'s query: the session, and one of its user's memberships (if
/// any) with the organisation's kind, status and OIDC policy.
#[derive(Debug, sea_orm::FromQueryResult)]
struct SessionRow {
    session_id: Uuid,
    user_id: Uuid,
    expires_at: chrono::DateTime<chrono::Utc>,
    revoked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Set when an OIDC provider opened the session.
    oidc_session_id: Option<Uuid>,
    organisation_id: Option<Uuid>,
    role: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    oidc_required: Option<bool>,
}

/// The caller a session token names, in one query (every authenticated request runs it): the
/// session, its user's memberships with their organisations, whether each organisation requires
/// OIDC sign-in and whether a provider opened the session. Nothing is cached, so a logout, a
/// revocation or a removed membership takes effect on the next request, on every instance.
async fn session_caller(
    state: &AppState,
    hash: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Caller, ApiError> {
    use sea_orm::FromQueryResult;
    let backend = state.db.get_database_backend();
    let placeholder = match backend {
        sea_orm::DbBackend::Postgres => "$1",
        _ => "?",
    };
    let sql = format!(
        "SELECT s.id AS session_id, s.user_id AS user_id, s.expires_at AS expires_at, \
                s.revoked_at AS revoked_at, os.session_id AS oidc_session_id, \
                m.organisation_id AS organisation_id, m.role AS role, o.kind AS kind, \
                o.status AS status, p.required AS oidc_required \
         FROM sessions s \
         LEFT JOIN oidc_sessions os ON os.session_id = s.id \
         LEFT JOIN memberships m ON m.user_id = s.user_id \
         LEFT JOIN organisations o ON o.id = m.organisation_id \
         LEFT JOIN organisation_oidc_policies p ON p.organisation_id = m.organisation_id \
         WHERE s.token_hash = {placeholder}"
    );
    let rows = SessionRow::find_by_statement(sea_orm::Statement::from_sql_and_values(
        backend,
        sql,
        [hash.into()],
    ))
    .all(&state.db)
    .await?;
    let first = rows
        .first()
        .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
        .ok_or_else(ApiError::unauthenticated)?;
    let (session_id, user_id) = (first.session_id, first.user_id);
    let by_oidc = first.oidc_session_id.is_some();
    // An organisation that requires OIDC sign-in is not acted for from another session.
    let memberships = rows
        .iter()
        .filter(|r| by_oidc || r.oidc_required != Some(true))
        .filter_map(|r| {
            Some(CallerMembership {
                organisation_id: r.organisation_id?,
                kind: OrganisationKind::parse(r.kind.as_deref()?)?,
                role: Role::parse(r.role.as_deref()?)?,
                status: VerificationStatus::parse(r.status.as_deref()?)?,
            })
        })
        .collect();
    Ok(Caller {
        principal: Principal::User {
            id: user_id,
            session_id,
        },
        memberships,
    })
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
