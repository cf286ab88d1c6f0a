//! The OpenID Connect port: the configured providers (`REEMPLOI_OIDC_*`), their discovery
//! documents and key sets (fetched lazily, cached, refetched when a token names an unknown key),
//! the authorization URL of a flow (code + PKCE S256, `state`, `nonce`), and the end of a flow:
//! the code exchanged on the back channel and the ID token checked (signature with an
//! allow-list of algorithms, issuer, audience, expiry, nonce). Protocol work is the
//! `openidconnect` crate's; this module only decides what to accept.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, AuthenticationContextClass, AuthorizationCode,
    ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IdToken, IdTokenVerifier,
    IssuerUrl, JsonWebKeySet, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    ProviderMetadataWithLogout, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    TokenResponse,
};
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::error::{ApiError, ApiResult, ErrorCode};

/// Signature algorithms accepted on ID tokens; `none` and the shared-secret ones never are.
pub const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 3] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
];

/// One provider, from `REEMPLOI_OIDC_<NAME>_*`.
#[derive(Clone)]
pub struct ProviderSettings {
    /// Lower-case name used in paths (`proconnect`).
    pub name: String,
    /// `_LABEL`: what the sign-in button says.
    pub label: String,
    /// `_ISSUER`: the issuer URL, exactly as the provider's discovery document states it.
    pub issuer: String,
    /// `_CLIENT_ID`.
    pub client_id: String,
    /// `_CLIENT_SECRET`: never logged.
    pub client_secret: String,
    /// `_SCOPES`: space-separated (default `openid email`).
    pub scopes: Vec<String>,
    /// `_ACR_VALUES`: space-separated `acr_values` to request (ProConnect: `eidas1`).
    pub acr_values: Vec<String>,
    /// `_POST_LOGOUT_REDIRECT_URI` (default: the public URL followed by `/`).
    pub post_logout_redirect_uri: String,
    /// Where the provider sends the browser back: `<public URL>/v1/auth/oidc/<name>/callback`.
    pub redirect_uri: String,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Every OIDC setting.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    /// `REEMPLOI_OIDC_PROVIDERS`: comma-separated names, in the order the sign-in page lists them.
    pub providers: Vec<ProviderSettings>,
    /// `REEMPLOI_OIDC_FLOW_TTL_SECS`: how long a started sign-in may be finished (default 600).
    pub flow_ttl_secs: u64,
    /// `REEMPLOI_OIDC_HTTP_TIMEOUT_MS`: timeout of each call to a provider (default 10000).
    pub http_timeout_ms: u64,
    /// `REEMPLOI_OIDC_DISCOVERY_TTL_SECS`: how long a discovery document is kept (default 3600).
    pub discovery_ttl_secs: u64,
}

fn is_http_url(v: &str) -> bool {
    v.starts_with("https://") || v.starts_with("http://")
}

/// Reads the OIDC settings; `public_url` gives the redirect URIs.
pub fn settings_from(
    get: &dyn Fn(&str) -> Option<String>,
    public_url: &str,
) -> Result<OidcSettings, ConfigError> {
    let value = |var: &str| {
        get(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let number = |var: &'static str, default: u64, min: u64, max: u64| match value(var) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| ConfigError {
                var,
                message: format!("expected a whole number in {min}..={max}"),
            }),
    };
    let mut providers = Vec::new();
    for name in value("REEMPLOI_OIDC_PROVIDERS")
        .unwrap_or_default()
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
    {
        let invalid = |message: String| ConfigError {
            var: "REEMPLOI_OIDC_PROVIDERS",
            message,
        };
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            || name.len() > 32
        {
            return Err(invalid(format!(
                "`{name}`: a provider name is 1 to 32 letters or digits"
            )));
        }
        if providers.iter().any(|p: &ProviderSettings| p.name == name) {
            return Err(invalid(format!("`{name}` is listed twice")));
        }
        let prefix = format!("REEMPLOI_OIDC_{}_", name.to_ascii_uppercase());
        let required = |suffix: &str| {
            value(&format!("{prefix}{suffix}")).ok_or_else(|| {
                invalid(format!(
                    "{prefix}{suffix} is required for the provider `{name}`"
                ))
            })
        };
        let issuer = required("ISSUER")?.trim_end_matches('/').to_owned();
        if !is_http_url(&issuer) {
            return Err(invalid(format!(
                "{prefix}ISSUER must be an http:// or https:// URL"
            )));
        }
        let scopes: Vec<String> = value(&format!("{prefix}SCOPES"))
            .unwrap_or_else(|| "openid email".into())
            .split_whitespace()
            .filter(|s| *s != "openid")
            .map(str::to_owned)
            .collect();
        let post_logout = value(&format!("{prefix}POST_LOGOUT_REDIRECT_URI"))
            .unwrap_or_else(|| format!("{public_url}/"));
        if !is_http_url(&post_logout) {
            return Err(invalid(format!(
                "{prefix}POST_LOGOUT_REDIRECT_URI must be an http:// or https:// URL"
            )));
        }
        providers.push(ProviderSettings {
            label: value(&format!("{prefix}LABEL")).unwrap_or_else(|| name.clone()),
            issuer,
            client_id: required("CLIENT_ID")?,
            client_secret: required("CLIENT_SECRET")?,
            scopes,
            acr_values: value(&format!("{prefix}ACR_VALUES"))
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            post_logout_redirect_uri: post_logout,
            redirect_uri: format!("{public_url}/v1/auth/oidc/{name}/callback"),
            name,
        });
    }
    Ok(OidcSettings {
        providers,
        flow_ttl_secs: number("REEMPLOI_OIDC_FLOW_TTL_SECS", 600, 30, 3600)?,
        http_timeout_ms: number("REEMPLOI_OIDC_HTTP_TIMEOUT_MS", 10_000, 100, 60_000)?,
        discovery_ttl_secs: number("REEMPLOI_OIDC_DISCOVERY_TTL_SECS", 3600, 1, 86_400)?,
    })
}

/// Claims beyond the standard ones: ProConnect's `siret` and `usual_name`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub siret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usual_name: Option<String>,
}

impl AdditionalClaims for ExtraClaims {}

type ProviderIdToken = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// What a provider asserted at the end of a flow, once every check passed.
#[derive(Clone, Debug)]
pub struct Asserted {
    pub subject: String,
    pub email: Option<String>,
    /// Only `email_verified: true` counts; absent is false.
    pub email_verified: bool,
    pub given_name: Option<String>,
    /// `usual_name` (ProConnect), or else `family_name`.
    pub family_name: Option<String>,
    pub siret: Option<String>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    /// The ID token as received, for the provider's logout (`id_token_hint`).
    pub id_token: String,
}

#[derive(Clone)]
struct Discovered {
    meta: ProviderMetadataWithLogout,
    jwks: CoreJsonWebKeySet,
    fetched: Instant,
}

struct Provider {
    settings: ProviderSettings,
    cache: tokio::sync::Mutex<Option<Discovered>>,
}

/// The configured providers and their caches; cheap to clone.
#[derive(Clone)]
pub struct Oidc {
    http: reqwest::Client,
    providers: Arc<Vec<Provider>>,
    discovery_ttl: Duration,
}

fn unavailable(provider: &str, what: impl std::fmt::Display) -> ApiError {
    tracing::warn!(oidc.provider = provider, error = %what, "OIDC provider unreachable");
    ApiError::new(ErrorCode::OidcProviderUnavailable)
}

/// Maps a failed ID token check to its problem.
fn refused(err: &ClaimsVerificationError) -> ApiError {
    let (code, fr, en) = match err {
        ClaimsVerificationError::Expired(_) => (
            ErrorCode::OidcTokenExpired,
            "le jeton d'identité a expiré",
            "the ID token has expired",
        ),
        ClaimsVerificationError::InvalidNonce(_) => (
            ErrorCode::OidcNonceMismatch,
            "le nonce du jeton d'identité n'est pas celui de cette connexion",
            "the ID token's nonce is not this sign-in's",
        ),
        ClaimsVerificationError::InvalidAudience(_) => (
            ErrorCode::OidcAudienceMismatch,
            "le jeton d'identité n'est pas destiné à ce service",
            "the ID token is not meant for this service",
        ),
        ClaimsVerificationError::InvalidIssuer(_) => (
            ErrorCode::OidcIssuerMismatch,
            "le jeton d'identité vient d'un autre émetteur",
            "the ID token comes from another issuer",
        ),
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoSignature)
        | ClaimsVerificationError::SignatureVerification(
            SignatureVerificationError::DisallowedAlg(_),
        ) => (
            ErrorCode::OidcSignatureInvalid,
            "le jeton d'identité n'est pas signé par un algorithme accepté (RS256, ES256, PS256)",
            "the ID token is not signed with an accepted algorithm (RS256, ES256, PS256)",
        ),
        ClaimsVerificationError::SignatureVerification(_) => (
            ErrorCode::OidcSignatureInvalid,
            "la signature du jeton d'identité ne correspond à aucune clé publiée par le fournisseur",
            "the ID token's signature matches no key the provider publishes",
        ),
        _ => (
            ErrorCode::OidcTokenInvalid,
            "le jeton d'identité est invalide",
            "the ID token is invalid",
        ),
    };
    ApiError::new(code).detail(format!("{fr} ({err})"), format!("{en} ({err})"))
}

impl Oidc {
    /// Builds the port; nothing is fetched until a sign-in starts.
    pub fn new(settings: &OidcSettings) -> Self {
        let timeout = Duration::from_millis(settings.http_timeout_ms);
        let http = reqwest::Client::builder()
            // A provider's answers are never followed elsewhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            .build()
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "OIDC HTTP client with its limits failed; using defaults");
                reqwest::Client::new()
            });
        Self {
            http,
            providers: Arc::new(
                settings
                    .providers
                    .iter()
                    .map(|s| Provider {
                        settings: s.clone(),
                        cache: tokio::sync::Mutex::new(None),
                    })
                    .collect(),
            ),
            discovery_ttl: Duration::from_secs(settings.discovery_ttl_secs),
        }
    }

    /// The configured providers, in order.
    pub fn providers(&self) -> impl Iterator<Item = &ProviderSettings> {
        self.providers.iter().map(|p| &p.settings)
    }

    fn provider(&self, name: &str) -> ApiResult<&Provider> {
        self.providers
            .iter()
            .find(|p| p.settings.name == name)
            .ok_or_else(|| ApiError::new(ErrorCode::OidcProviderUnknown))
    }

    /// The settings of provider `name`, or 404 `oidc_provider_unknown`.
    pub fn settings(&self, name: &str) -> ApiResult<&ProviderSettings> {
        Ok(&self.provider(name)?.settings)
    }

    /// The discovery document and key set, from the cache when fresh. `refresh_keys` refetches
    /// the key set (a token named a key the cached set lacks: the provider rotated its keys).
    async fn discovered(&self, p: &Provider, refresh_keys: bool) -> ApiResult<Discovered> {
        let name = p.settings.name.as_str();
        let mut cache = p.cache.lock().await;
        if let Some(d) = cache.as_ref()
            && d.fetched.elapsed() < self.discovery_ttl
        {
            if !refresh_keys {
                return Ok(d.clone());
            }
            let jwks = JsonWebKeySet::fetch_async(d.meta.jwks_uri(), &self.http)
                .await
                .map_err(|e| unavailable(name, e))?;
            tracing::info!(oidc.provider = name, "OIDC key set refetched");
            let d = Discovered { jwks, ..d.clone() };
            *cache = Some(d.clone());
            return Ok(d);
        }
        let issuer = IssuerUrl::new(p.settings.issuer.clone()).map_err(|e| unavailable(name, e))?;
        let meta = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
            .await
            .map_err(|e| unavailable(name, e))?;
        let d = Discovered {
            jwks: meta.jwks().clone(),
            meta,
            fetched: Instant::now(),
        };
        *cache = Some(d.clone());
        Ok(d)
    }

    fn client(
        p: &ProviderSettings,
        d: &Discovered,
    ) -> ApiResult<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
    > {
        let redirect =
            RedirectUrl::new(p.redirect_uri.clone()).map_err(|e| unavailable(&p.name, e))?;
        Ok(CoreClient::from_provider_metadata(
            d.meta.clone().set_jwks(d.jwks.clone()),
            ClientId::new(p.client_id.clone()),
            Some(ClientSecret::new(p.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a flow: the URL to send the browser to, with the PKCE challenge of `verifier`.
    pub async fn authorization_url(
        &self,
        name: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> ApiResult<String> {
        let p = self.provider(name)?;
        let d = self.discovered(p, false).await?;
        let client = Self::client(&p.settings, &d)?;
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.into()));
        let (state, nonce) = (state.to_owned(), nonce.to_owned());
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .set_pkce_challenge(challenge);
        for scope in &p.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        for acr in &p.settings.acr_values {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
        }
        Ok(request.url().0.to_string())
    }

    /// A fresh random secret for `state`, `nonce` or the PKCE verifier (43 URL-safe characters).
    pub fn random_secret() -> String {
        CsrfToken::new_random_len(32).secret().clone()
    }

    /// Ends a flow: exchanges `code` (with the PKCE verifier) and checks the ID token against
    /// `nonce`. The provider's answer names the issuer (`iss`, RFC 9207) when it supports it:
    /// it must be this provider's.
    pub async fn finish(
        &self,
        name: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
        iss: Option<&str>,
    ) -> ApiResult<Asserted> {
        let p = self.provider(name)?;
        let d = self.discovered(p, false).await?;
        if let Some(iss) = iss
            && iss.trim_end_matches('/') != d.meta.issuer().as_str().trim_end_matches('/')
        {
            return Err(ApiError::new(ErrorCode::OidcIssuerMismatch).detail(
                "la réponse du fournisseur nomme un autre émetteur",
                "the provider's answer names another issuer",
            ));
        }
        let client = Self::client(&p.settings, &d)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| unavailable(name, e))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    tracing::info!(oidc.provider = name, error = %r, "OIDC code refused by the provider");
                    ApiError::new(ErrorCode::OidcCodeRejected).detail(
                        format!("le fournisseur a refusé le code : {r}"),
                        format!("the provider refused the code: {r}"),
                    )
                }
                RequestTokenError::Parse(e, _) => ApiError::new(ErrorCode::OidcTokenInvalid)
                    .detail(
                        format!("réponse du fournisseur illisible : {e}"),
                        format!("unreadable answer from the provider: {e}"),
                    ),
                other => unavailable(name, other),
            })?;
        let raw = response
            .id_token()
            .ok_or_else(|| {
                ApiError::new(ErrorCode::OidcTokenInvalid).detail(
                    "le fournisseur n'a pas envoyé de jeton d'identité",
                    "the provider sent no ID token",
                )
            })?
            .to_string();
        let token = ProviderIdToken::from_str(&raw).map_err(|e| {
            ApiError::new(ErrorCode::OidcTokenInvalid).detail(
                format!("jeton d'identité illisible : {e}"),
                format!("unreadable ID token: {e}"),
            )
        })?;
        let nonce = Nonce::new(nonce.to_owned());
        let verify = |jwks: &CoreJsonWebKeySet| {
            let verifier = verifier_for(&p.settings, &d.meta, jwks);
            token.claims(&verifier, &nonce).cloned()
        };
        let claims = match verify(&d.jwks) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                // A key the cached set lacks: the provider may have rotated its keys. The token
                // came from its token endpoint over the back channel, so this costs one fetch
                // per real sign-in at most.
                let fresh = self.discovered(p, true).await?;
                verify(&fresh.jwks)
            }
            other => other,
        }
        .map_err(|e| {
            tracing::info!(oidc.provider = name, error = %e, "OIDC ID token refused");
            refused(&e)
        })?;
        let mut asserted = Asserted {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified() == Some(true),
            given_name: claims
                .given_name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            family_name: claims.additional_claims().usual_name.clone().or_else(|| {
                claims
                    .family_name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str().to_owned())
            }),
            siret: claims.additional_claims().siret.clone(),
            acr: claims.auth_context_ref().map(|a| a.as_str().to_owned()),
            amr: claims
                .auth_method_refs()
                .map(|v| v.iter().map(|a| a.as_str().to_owned()).collect())
                .unwrap_or_default(),
            id_token: raw,
        };
        // ProConnect, like many providers, answers the identity claims at the userinfo
        // endpoint rather than in the ID token.
        if asserted.email.is_none()
            && let Ok(request) = client.user_info(
                AccessToken::new(response.access_token().secret().clone()),
                Some(claims.subject().clone()),
            )
        {
            let info = request
                .request_async::<ExtraClaims, _, CoreGenderClaim>(&self.http)
                .await
                .map_err(|e| {
                    ApiError::new(ErrorCode::OidcTokenInvalid).detail(
                        format!("réponse userinfo refusée : {e}"),
                        format!("userinfo answer refused: {e}"),
                    )
                })?;
            asserted.email = info.email().map(|e| e.as_str().to_owned());
            asserted.email_verified = info.email_verified() == Some(true);
            asserted.given_name = asserted.given_name.or_else(|| {
                info.given_name()
                    .and_then(|n| n.get(None))
                    .map(|n| n.as_str().to_owned())
            });
            asserted.family_name = asserted
                .family_name
                .or_else(|| info.additional_claims().usual_name.clone());
            asserted.siret = asserted
                .siret
                .or_else(|| info.additional_claims().siret.clone());
        }
        Ok(asserted)
    }

    /// The provider's logout URL for a session it opened, with `id_token_hint` and
    /// `post_logout_redirect_uri`; `None` when the provider has no `end_session_endpoint`
    /// (or cannot be reached to know it).
    pub async fn end_session_url(&self, name: &str, id_token: &str) -> Option<String> {
        let p = self.provider(name).ok()?;
        let d = self.discovered(p, false).await.ok()?;
        let endpoint = d.meta.additional_metadata().end_session_endpoint.as_ref()?;
        let mut url = endpoint.url().clone();
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair(
                "post_logout_redirect_uri",
                &p.settings.post_logout_redirect_uri,
            )
            .append_pair("client_id", &p.settings.client_id)
            .append_pair("state", &Self::random_secret());
        Some(url.to_string())
    }
}

fn verifier_for<'a>(
    p: &ProviderSettings,
    meta: &ProviderMetadataWithLogout,
    jwks: &CoreJsonWebKeySet,
) -> IdTokenVerifier<'a, CoreJsonWebKey> {
    IdTokenVerifier::new_public_client(
        ClientId::new(p.client_id.clone()),
        meta.issuer().clone(),
        jwks.clone(),
    )
    .set_allowed_algs(ALLOWED_ALGS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<OidcSettings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        settings_from(&|k| map.get(k).cloned(), "https://reemploi.example.org")
    }

    #[test]
    fn several_providers_are_read_from_their_variables() {
        let s = settings(&[
            ("REEMPLOI_OIDC_PROVIDERS", "proconnect, Keycloak"),
            (
                "REEMPLOI_OIDC_PROCONNECT_ISSUER",
                "https://auth.agentconnect.gouv.fr/api/v2/",
            ),
            ("REEMPLOI_OIDC_PROCONNECT_CLIENT_ID", "id"),
            ("REEMPLOI_OIDC_PROCONNECT_CLIENT_SECRET", "très secret"),
            (
                "REEMPLOI_OIDC_PROCONNECT_SCOPES",
                "openid email given_name usual_name siret",
            ),
            ("REEMPLOI_OIDC_PROCONNECT_LABEL", "ProConnect"),
            ("REEMPLOI_OIDC_PROCONNECT_ACR_VALUES", "eidas1"),
            (
                "REEMPLOI_OIDC_KEYCLOAK_ISSUER",
                "https://sso.example.org/realms/x",
            ),
            ("REEMPLOI_OIDC_KEYCLOAK_CLIENT_ID", "reemploi"),
            ("REEMPLOI_OIDC_KEYCLOAK_CLIENT_SECRET", "s"),
        ])
        .expect("valid");
        assert_eq!(s.providers.len(), 2);
        let pc = &s.providers[0];
        assert_eq!(pc.name, "proconnect");
        assert_eq!(pc.issuer, "https://auth.agentconnect.gouv.fr/api/v2");
        assert_eq!(pc.scopes, ["email", "given_name", "usual_name", "siret"]);
        assert_eq!(pc.acr_values, ["eidas1"]);
        assert_eq!(
            pc.redirect_uri,
            "https://reemploi.example.org/v1/auth/oidc/proconnect/callback"
        );
        assert!(!format!("{pc:?}").contains("très secret"));
        let kc = &s.providers[1];
        assert_eq!(
            (kc.name.as_str(), kc.label.as_str()),
            ("keycloak", "keycloak")
        );
        assert_eq!(kc.scopes, ["email"]);
        assert_eq!(kc.post_logout_redirect_uri, "https://reemploi.example.org/");
    }

    #[test]
    fn a_provider_without_its_secret_or_with_a_bad_name_is_refused() {
        let err = settings(&[
            ("REEMPLOI_OIDC_PROVIDERS", "sso"),
            ("REEMPLOI_OIDC_SSO_ISSUER", "https://sso.example.org"),
            ("REEMPLOI_OIDC_SSO_CLIENT_ID", "x"),
        ])
        .expect_err("refused");
        assert!(err.message.contains("REEMPLOI_OIDC_SSO_CLIENT_SECRET"));
        assert!(settings(&[("REEMPLOI_OIDC_PROVIDERS", "pro-connect")]).is_err());
        assert!(settings(&[("REEMPLOI_OIDC_FLOW_TTL_SECS", "5")]).is_err());
        assert!(settings(&[]).expect("none").providers.is_empty());
    }
}
