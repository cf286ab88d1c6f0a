//! A person's credentials and profile: change or reset the password, verify the e-mail
//! address, sign out everywhere, and set the name and language (`docs/accounts.md`).

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};

use super::access::{BearerAuth, Principal};
use super::accounts::rate_limited;
use super::log::ClientIp;
use super::types::{ApiTags, NoContent, Str};
use crate::commands::credentials;
use crate::error::{ApiError, ApiResult, Lang};
use crate::state::AppState;

/// Changing one's password.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChangePasswordRequest {
    #[oai(validator(max_length = 256))]
    pub current_password: Str,
    /// At least 12 varied characters.
    #[oai(validator(max_length = 256))]
    pub new_password: Str,
}

/// Asking for a password reset link.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PasswordResetRequest {
    #[oai(validator(max_length = 254))]
    pub email: Str,
}

/// Setting a new password with the token of a reset link.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ResetPasswordRequest {
    #[oai(validator(max_length = 100))]
    pub token: Str,
    /// At least 12 varied characters.
    #[oai(validator(max_length = 256))]
    pub password: Str,
}

/// Verifying an address with the token of the mailed link.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VerifyEmailRequest {
    #[oai(validator(max_length = 100))]
    pub token: Str,
}

/// The language of a person's mails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Language {
    Fr,
    En,
}

impl From<Language> for Lang {
    fn from(l: Language) -> Lang {
        match l {
            Language::Fr => Lang::Fr,
            Language::En => Lang::En,
        }
    }
}

/// What a person changes about themselves; absent fields stay as they are.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct UpdateMeRequest {
    /// Name shown to other members.
    #[oai(validator(max_length = 200))]
    pub display_name: Option<Str>,
    /// Language of the mails the service sends this person (`fr` by default).
    pub language: Option<Language>,
}

/// Accepted: a mail is on its way (when there is someone to mail).
#[derive(ApiResponse)]
pub enum Accepted {
    /// Accepted.
    #[oai(status = 202)]
    Accepted,
}

/// The signed-in user, or 403 for an API key (it has no password nor profile).
pub(crate) fn user_of(auth: &BearerAuth, op: &str) -> ApiResult<(uuid::Uuid, uuid::Uuid)> {
    auth.0.authorize(op, None)?;
    match auth.0.principal {
        Principal::User { id, session_id } => Ok((id, session_id)),
        Principal::ApiKey { .. } => Err(ApiError::forbidden()),
    }
}

pub struct CredentialsApi {
    pub state: AppState,
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Accounts")]
impl CredentialsApi {
    /// Change my password
    ///
    /// Needs the current password (422 `wrong_password`). The other sessions of the account are
    /// signed out; the one used for this call stays open.
    #[oai(
        path = "/me/password",
        method = "post",
        operation_id = "change_password"
    )]
    async fn change_password(
        &self,
        auth: BearerAuth,
        remote: ClientIp,
        body: Json<ChangePasswordRequest>,
    ) -> ApiResult<NoContent> {
        let (user_id, session_id) = user_of(&auth, "change_password")?;
        self.state
            .login_per_ip
            .hit(&remote.0)
            .map_err(rate_limited)?;
        credentials::change_password(
            &self.state,
            user_id,
            session_id,
            &body.0.current_password,
            &body.0.new_password,
        )
        .await?;
        Ok(NoContent::NoContent)
    }

    /// Ask for a password reset link
    ///
    /// Mails a single-use link to the service's reset page, valid one hour, if the address has
    /// an account. Answers 202 whether it has one or not, so the answer reveals nothing.
    #[oai(
        path = "/auth/password-reset",
        method = "post",
        operation_id = "request_password_reset"
    )]
    async fn request_password_reset(
        &self,
        remote: ClientIp,
        body: Json<PasswordResetRequest>,
    ) -> ApiResult<Accepted> {
        self.state
            .login_per_ip
            .hit(&remote.0)
            .map_err(rate_limited)?;
        credentials::request_password_reset(&self.state, &body.0.email).await?;
        Ok(Accepted::Accepted)
    }

    /// Set a new password with a reset link
    ///
    /// The token of the mailed link works once, within the hour (422 `token_invalid` after).
    /// Every session of the account is signed out.
    #[oai(
        path = "/auth/password-reset/confirm",
        method = "post",
        operation_id = "reset_password"
    )]
    async fn reset_password(
        &self,
        remote: ClientIp,
        body: Json<ResetPasswordRequest>,
    ) -> ApiResult<NoContent> {
        self.state
            .login_per_ip
            .hit(&remote.0)
            .map_err(rate_limited)?;
        credentials::reset_password(&self.state, &body.0.token, &body.0.password).await?;
        Ok(NoContent::NoContent)
    }

    /// Ask for an address verification link
    ///
    /// Mails the signed-in user a link that proves they read mail at their address
    /// (409 `email_already_verified` when it is).
    #[oai(
        path = "/me/email-verification",
        method = "post",
        operation_id = "request_email_verification"
    )]
    async fn request_email_verification(&self, auth: BearerAuth) -> ApiResult<Accepted> {
        let (user_id, _) = user_of(&auth, "request_email_verification")?;
        credentials::request_email_verification(&self.state, user_id).await?;
        Ok(Accepted::Accepted)
    }

    /// Verify an e-mail address
    ///
    /// With the token of the mailed link (422 `token_invalid` when unknown, expired or used).
    #[oai(
        path = "/auth/verify-email",
        method = "post",
        operation_id = "verify_email"
    )]
    async fn verify_email(
        &self,
        remote: ClientIp,
        body: Json<VerifyEmailRequest>,
    ) -> ApiResult<NoContent> {
        self.state
            .login_per_ip
            .hit(&remote.0)
            .map_err(rate_limited)?;
        credentials::verify_email(&self.state, &body.0.token).await?;
        Ok(NoContent::NoContent)
    }

    /// Sign out everywhere
    ///
    /// Revokes every session of the signed-in user, the one used for this call included.
    #[oai(
        path = "/auth/logout-everywhere",
        method = "post",
        operation_id = "logout_everywhere"
    )]
    async fn logout_everywhere(&self, auth: BearerAuth) -> ApiResult<NoContent> {
        let (user_id, _) = user_of(&auth, "logout_everywhere")?;
        credentials::logout_everywhere(&self.state, user_id).await?;
        Ok(NoContent::NoContent)
    }
}
