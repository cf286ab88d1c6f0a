//! Sign-in with OpenID Connect against a real provider: `oidc-provider` (npm) run by
//! infra/oidc/server.mjs, which infra/scripts/test.sh starts and names in
//! `TEST_OIDC_PROVIDER_URL`. Without it these tests print SKIPPED and pass.
//!
//! The browser is played by a reqwest client that keeps the provider's cookies and posts the
//! provider's login form; the provider redirects to `http://reemploi.test/…/callback` (the
//! public URL the service is given), whose query the test hands to the service.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, Resp, TestApp, spawn_app_with};

const PUBLIC_URL: &str = "http://reemploi.test";
const AGENT_EMAIL: &str = "agent@mairie-exemple.fr";
const AGENT_SIRET: &str = "21750001600019";
const PARTNER_EMAIL: &str = "partenaire@exemple.org";

/// The provider's URL, or `None` after printing SKIPPED.
fn provider_url(test: &str) -> Option<String> {
    match std::env::var("TEST_OIDC_PROVIDER_URL") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ => {
            eprintln!(
                "SKIPPED: {test}: the OIDC tests need TEST_OIDC_PROVIDER_URL (infra/scripts/test.sh starts infra/oidc/server.mjs)"
            );
            None
        }
    }
}

/// The service with one provider entry per client variant of the test provider.
async fn oidc_app(url: &str) -> TestApp {
    let entries: &[(&str, &str, &str)] = &[
        ("proconnect", "main", "reemploi"),
        ("unsigned", "main", "reemploi-unsigned"),
        ("wrongnonce", "main", "reemploi-wrong-nonce"),
        ("wrongaud", "main", "reemploi-wrong-audience"),
        ("expiring", "main", "reemploi-expiring"),
        ("rotating", "rotating", "reemploi-rotating"),
        ("retired", "rotating", "reemploi-retired"),
    ];
    let mut vars: Vec<(String, String)> = vec![
        ("REEMPLOI_PUBLIC_URL".into(), PUBLIC_URL.into()),
        (
            "REEMPLOI_OIDC_PROVIDERS".into(),
            entries.iter().map(|e| e.0).collect::<Vec<_>>().join(","),
        ),
        ("REEMPLOI_OIDC_PROCONNECT_LABEL".into(), "ProConnect".into()),
        (
            "REEMPLOI_OIDC_PROCONNECT_ACR_VALUES".into(),
            "eidas1".into(),
        ),
    ];
    for (name, issuer, client) in entries {
        let p = format!("REEMPLOI_OIDC_{}_", name.to_uppercase());
        vars.push((format!("{p}ISSUER"), format!("{url}/{issuer}")));
        vars.push((format!("{p}CLIENT_ID"), (*client).into()));
        vars.push((format!("{p}CLIENT_SECRET"), format!("secret-{client}")));
        vars.push((
            format!("{p}SCOPES"),
            "openid email given_name usual_name siret".into(),
        ));
    }
    let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    spawn_app_with(&refs).await
}

/// A browser: no automatic redirects, the provider's cookies kept by hand.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    fn keep(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap_or_default();
            if let Some((name, value)) = v.split(';').next().and_then(|c| c.split_once('=')) {
                self.cookies.insert(name.trim().into(), value.trim().into());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Follows the provider's pages from `url`, posting the login form with `login` and
    /// `password` when shown, until the provider sends the browser to the service. Returns
    /// that callback URL.
    async fn sign_in(&mut self, url: &str, login: &str, password: &str) -> String {
        let mut url = url.to_owned();
        for _ in 0..12 {
            if url.starts_with(PUBLIC_URL) {
                return url;
            }
            let resp = self
                .http
                .get(&url)
                .header("cookie", self.cookie_header())
                .send()
                .await
                .expect("provider reachable");
            self.keep(&resp);
            if resp.status().is_redirection() {
                url = absolute(&url, location(&resp));
                continue;
            }
            let status = resp.status();
            let page = resp.text().await.unwrap_or_default();
            assert_eq!(status, 200, "provider page {url}: {page}");
            assert!(page.contains("name=\"login\""), "not a login page: {page}");
            let resp = self
                .http
                .post(&url)
                .header("cookie", self.cookie_header())
                .form(&[
                    ("prompt", "login"),
                    ("login", login),
                    ("password", password),
                ])
                .send()
                .await
                .expect("login posted");
            self.keep(&resp);
            assert!(
                resp.status().is_redirection(),
                "login refused by the provider: {}",
                resp.status()
            );
            url = absolute(&url, location(&resp));
        }
        panic!("the provider never sent the browser back");
    }
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned()
}

fn absolute(base: &str, location: String) -> String {
    if location.starts_with("http") {
        return location;
    }
    let origin = base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    format!("{origin}{location}")
}

/// A query parameter of `url`.
fn param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            let v = v.replace('+', " ");
            percent_decode(&v)
        })
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts a sign-in with `provider` and returns where the service sends the browser.
async fn start(app: &TestApp, provider: &str, query: &str) -> String {
    let resp = Browser::new()
        .http
        .get(app.url(&format!("/v1/auth/oidc/{provider}/start{query}")))
        .send()
        .await
        .expect("start");
    let status = resp.status().as_u16();
    let loc = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.text().await.unwrap_or_default();
    assert_eq!(status, 303, "start: {text}");
    loc.expect("location")
}

/// Hands the provider's redirect to the service's callback.
async fn callback(app: &TestApp, callback_url: &str) -> Resp {
    let path = callback_url
        .strip_prefix(PUBLIC_URL)
        .expect("a callback of the service");
    app.get(path, None).await
}

/// The whole flow for `login` at `provider`: start, provider login, callback.
async fn sign_in(app: &TestApp, provider: &str, login: &str, password: &str) -> Resp {
    let url = start(app, provider, "").await;
    let back = Browser::new().sign_in(&url, login, password).await;
    callback(app, &back).await
}

async fn sign_in_agent(app: &TestApp, provider: &str) -> Resp {
    sign_in(app, provider, "agent", "mot-de-passe-agent").await
}

/// A public body whose admin has `email` (and the organisation the SIRET `siret`).
async fn register_town(app: &TestApp, email: &str, siret: Option<&str>) -> (String, String) {
    let mut body = crate::helpers::registration("public_body", email);
    if let Some(siret) = siret {
        body["siret"] = json!(siret);
    }
    let r = app.post("/v1/organisations", None, body).await;
    assert_eq!(r.status, 201, "registration: {}", r.text);
    let id = r.body["organisation"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    (id, app.login(email, PASSWORD).await)
}

#[tokio::test]
async fn an_agent_signs_in_with_proconnect_uses_the_session_and_signs_out_of_both() {
    let Some(url) = provider_url("oidc happy path") else {
        return;
    };
    let app = oidc_app(&url).await;

    let list = app.get("/v1/auth/oidc/providers", None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["items"][0]["name"], "proconnect");
    assert_eq!(list.body["items"][0]["label"], "ProConnect");
    assert_eq!(
        list.body["items"][0]["start_url"],
        format!("{PUBLIC_URL}/v1/auth/oidc/proconnect/start")
    );

    let to_provider = start(&app, "proconnect", "").await;
    assert!(
        to_provider.starts_with(&format!("{url}/main/auth?")),
        "{to_provider}"
    );
    assert_eq!(
        param(&to_provider, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        param(&to_provider, "client_id").as_deref(),
        Some("reemploi")
    );
    assert_eq!(param(&to_provider, "acr_values").as_deref(), Some("eidas1"));
    assert_eq!(
        param(&to_provider, "redirect_uri").as_deref(),
        Some("http://reemploi.test/v1/auth/oidc/proconnect/callback")
    );
    let scope = param(&to_provider, "scope").expect("scope");
    for s in ["openid", "email", "given_name", "usual_name", "siret"] {
        assert!(scope.split(' ').any(|x| x == s), "{scope}");
    }
    assert!(param(&to_provider, "state").is_some_and(|s| s.len() >= 32));
    assert!(param(&to_provider, "nonce").is_some_and(|s| s.len() >= 32));
    assert_eq!(app.count("sessions").await, 0);

    let back = Browser::new()
        .sign_in(&to_provider, "agent", "mot-de-passe-agent")
        .await;
    let signed = callback(&app, &back).await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    assert_eq!(signed.body["linked_by"], "new_account");
    assert_eq!(signed.body["provider"], "proconnect");
    assert_eq!(signed.body["acr"], "eidas1");
    assert_eq!(signed.body["amr"], json!(["pwd"]));
    assert_eq!(signed.body["user"]["email"], AGENT_EMAIL);
    assert_eq!(signed.body["user"]["display_name"], "Camille Martin");
    assert!(signed.body.get("proposed_organisation").is_none());
    let token = signed.body["token"].as_str().expect("token").to_owned();

    let me = app.get("/v1/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.body["email"], AGENT_EMAIL);
    // The account has no password: only the provider signs it in.
    let by_password = app
        .post(
            "/v1/auth/login",
            None,
            json!({ "email": AGENT_EMAIL, "password": "mot-de-passe-agent" }),
        )
        .await;
    by_password.assert_problem(401, "invalid_credentials");

    // A second sign-in finds the same account through the linked identity.
    let again = sign_in_agent(&app, "proconnect").await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.body["linked_by"], "identity");
    assert_eq!(
        again.body["user"]["user_id"],
        signed.body["user"]["user_id"]
    );
    assert_eq!(app.count("users").await, 1);

    let out = app
        .post("/v1/auth/oidc/logout", Some(&token), json!({}))
        .await;
    assert_eq!(out.status, 200, "{}", out.text);
    let end = out.body["end_session_url"]
        .as_str()
        .expect("end session url");
    assert!(
        end.starts_with(&format!("{url}/main/session/end?")),
        "{end}"
    );
    let hint = param(end, "id_token_hint").expect("id_token_hint");
    assert_eq!(hint.split('.').count(), 3, "a JWT: {hint}");
    assert_eq!(
        param(end, "post_logout_redirect_uri").as_deref(),
        Some("http://reemploi.test/")
    );
    // The provider accepts that logout request (it checks the hint and the redirect URI) and
    // goes on to its confirmation.
    let page = Browser::new().http.get(end).send().await.expect("logout");
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap_or_default();
    assert!(text.contains("/main/session/end/confirm"), "{text}");
    app.get("/v1/me", Some(&token))
        .await
        .assert_problem(401, "unauthenticated");
    let still = again.body["token"].as_str().expect("token");
    assert_eq!(app.get("/v1/me", Some(still)).await.status, 200);

    // Erasing the account removes the provider identity (subject and address) with it: the
    // next sign-in with the provider starts a new account rather than finding the old one.
    assert_eq!(app.count("oidc_identities").await, 1);
    let erased = app
        .send(reqwest::Method::DELETE, "/v1/me", Some(still), None, &[])
        .await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    assert_eq!(app.count("oidc_identities").await, 0);
    assert_eq!(app.count("oidc_sessions").await, 0);
    let anew = sign_in_agent(&app, "proconnect").await;
    assert_eq!(anew.status, 200, "{}", anew.text);
    assert_eq!(anew.body["linked_by"], "new_account");
    assert_ne!(anew.body["user"]["user_id"], signed.body["user"]["user_id"]);
}

#[tokio::test]
async fn a_verified_email_links_the_existing_account_and_the_siret_only_proposes_its_organisation()
{
    let Some(url) = provider_url("oidc linking") else {
        return;
    };
    let app = oidc_app(&url).await;
    let (town, _) = register_town(&app, AGENT_EMAIL, Some(AGENT_SIRET)).await;
    let users = app.count("users").await;
    let signed = sign_in_agent(&app, "proconnect").await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    assert_eq!(signed.body["linked_by"], "verified_email");
    assert_eq!(app.count("users").await, users);
    assert_eq!(
        signed.body["user"]["memberships"][0]["organisation_id"],
        town
    );
    assert_eq!(
        signed.body["proposed_organisation"]["organisation_id"],
        town
    );
    assert_eq!(signed.body["proposed_organisation"]["already_member"], true);
    // The password still works for that account.
    app.login(AGENT_EMAIL, PASSWORD).await;
}

#[tokio::test]
async fn the_siret_claim_proposes_an_organisation_but_grants_no_membership() {
    let Some(url) = provider_url("oidc siret") else {
        return;
    };
    let app = oidc_app(&url).await;
    let (town, admin) = register_town(
        &app,
        &crate::helpers::unique_email("maire"),
        Some(AGENT_SIRET),
    )
    .await;
    let signed = sign_in_agent(&app, "proconnect").await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    assert_eq!(
        signed.body["proposed_organisation"]["organisation_id"],
        town
    );
    assert_eq!(
        signed.body["proposed_organisation"]["already_member"],
        false
    );
    assert_eq!(signed.body["user"]["memberships"], json!([]));
    let token = signed.body["token"].as_str().expect("token");
    let read = app
        .get(&format!("/v1/organisations/{town}"), Some(token))
        .await;
    read.assert_problem(404, "not_found");
    // The organisation's admin still decides: an invitation, accepted through the provider.
    let invite = app
        .post(
            &format!("/v1/organisations/{town}/invitations"),
            Some(&admin),
            json!({ "email": AGENT_EMAIL, "role": "agent" }),
        )
        .await;
    assert_eq!(invite.status, 201, "{}", invite.text);
    let invitation = app.invitation_token(AGENT_EMAIL).await;
    let to_provider = start(&app, "proconnect", &format!("?invitation={invitation}")).await;
    let back = Browser::new()
        .sign_in(&to_provider, "agent", "mot-de-passe-agent")
        .await;
    let joined = callback(&app, &back).await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    assert_eq!(joined.body["linked_by"], "identity");
    assert_eq!(joined.body["joined_organisation_id"], town);
    assert_eq!(joined.body["user"]["memberships"][0]["role"], "agent");
}

#[tokio::test]
async fn an_unverified_email_is_refused_against_an_existing_account_and_opens_no_session() {
    let Some(url) = provider_url("oidc email_verified false") else {
        return;
    };
    let app = oidc_app(&url).await;
    register_town(&app, PARTNER_EMAIL, None).await;
    let sessions = app.count("sessions").await;
    let refused = sign_in(&app, "proconnect", "partenaire", "mot-de-passe-partenaire").await;
    refused.assert_problem(403, "oidc_email_unverified");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("email_verified"))
    );
    assert_eq!(app.count("sessions").await, sessions);
    assert_eq!(app.count("oidc_identities").await, 0);
    assert_eq!(app.count("oidc_sessions").await, 0);
}

#[tokio::test]
async fn an_unverified_email_without_account_needs_an_invitation() {
    let Some(url) = provider_url("oidc invitation") else {
        return;
    };
    let app = oidc_app(&url).await;
    let refused = sign_in(&app, "proconnect", "partenaire", "mot-de-passe-partenaire").await;
    refused.assert_problem(403, "oidc_email_unverified");
    assert_eq!(app.count("sessions").await, 0);

    let (org, admin) = register_town(&app, &crate::helpers::unique_email("maire"), None).await;
    let r = app
        .post(
            &format!("/v1/organisations/{org}/invitations"),
            Some(&admin),
            json!({ "email": PARTNER_EMAIL, "role": "agent" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let invitation = app.invitation_token(PARTNER_EMAIL).await;
    let bad = Browser::new()
        .http
        .get(app.url("/v1/auth/oidc/proconnect/start?invitation=rmi_inconnue"))
        .send()
        .await
        .expect("start");
    assert_eq!(bad.status().as_u16(), 422);
    let to_provider = start(&app, "proconnect", &format!("?invitation={invitation}")).await;
    let back = Browser::new()
        .sign_in(&to_provider, "partenaire", "mot-de-passe-partenaire")
        .await;
    let joined = callback(&app, &back).await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    assert_eq!(joined.body["linked_by"], "invitation");
    assert_eq!(joined.body["joined_organisation_id"], org);
    assert_eq!(joined.body["user"]["email"], PARTNER_EMAIL);
    // The invitation is used up.
    let again = Browser::new()
        .http
        .get(app.url(&format!(
            "/v1/auth/oidc/proconnect/start?invitation={invitation}"
        )))
        .send()
        .await
        .expect("start");
    assert_eq!(again.status().as_u16(), 422);
}

#[tokio::test]
async fn a_wrong_state_a_replayed_callback_and_a_replayed_code_are_refused() {
    let Some(url) = provider_url("oidc state and code") else {
        return;
    };
    let app = oidc_app(&url).await;
    let to_provider = start(&app, "proconnect", "").await;
    let back = Browser::new()
        .sign_in(&to_provider, "agent", "mot-de-passe-agent")
        .await;
    let code = param(&back, "code").expect("code");

    let forged = app
        .get(
            &format!("/v1/auth/oidc/proconnect/callback?code={code}&state=etat-invente"),
            None,
        )
        .await;
    forged.assert_problem(401, "oidc_state_invalid");
    let missing = app
        .get(
            &format!("/v1/auth/oidc/proconnect/callback?code={code}"),
            None,
        )
        .await;
    missing.assert_problem(401, "oidc_state_invalid");
    // The state of one provider does not finish another's flow.
    let elsewhere = back.replace("/oidc/proconnect/", "/oidc/unsigned/");
    callback(&app, &elsewhere)
        .await
        .assert_problem(401, "oidc_state_invalid");
    assert_eq!(app.count("sessions").await, 0);

    let ok = callback(&app, &back).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(app.count("sessions").await, 1);
    // The same answer again: the flow is finished.
    callback(&app, &back)
        .await
        .assert_problem(401, "oidc_state_invalid");
    // The same code with a fresh flow: the provider refuses it.
    let fresh = start(&app, "proconnect", "").await;
    let state = param(&fresh, "state").expect("state");
    let replay = app
        .get(
            &format!("/v1/auth/oidc/proconnect/callback?code={code}&state={state}"),
            None,
        )
        .await;
    replay.assert_problem(401, "oidc_code_rejected");
    // The provider's own refusal (the person cancelled).
    let fresh = start(&app, "proconnect", "").await;
    let state = param(&fresh, "state").expect("state");
    let cancelled = app
        .get(
            &format!(
                "/v1/auth/oidc/proconnect/callback?error=access_denied&error_description=annule&state={state}"
            ),
            None,
        )
        .await;
    cancelled.assert_problem(401, "oidc_provider_refused");
    assert_eq!(app.count("sessions").await, 1);
}

#[tokio::test]
async fn tampered_unsigned_and_expired_id_tokens_are_refused_without_session() {
    let Some(url) = provider_url("oidc token checks") else {
        return;
    };
    let app = oidc_app(&url).await;
    for (provider, status, code) in [
        ("unsigned", 401, "oidc_signature_invalid"),
        ("wrongnonce", 401, "oidc_nonce_mismatch"),
        ("wrongaud", 401, "oidc_audience_mismatch"),
        ("expiring", 401, "oidc_token_expired"),
    ] {
        let r = sign_in_agent(&app, provider).await;
        r.assert_problem(status, code);
        assert!(
            r.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            r.text
        );
    }
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(app.count("oidc_identities").await, 0);
    assert_eq!(app.count("users").await, 0);
    // Each refusal is in the flow's audit trail, with its code.
    let refusals = app
        .count("events WHERE kind = 'oidc_sign_in_refused'")
        .await;
    assert_eq!(refusals, 4);
}

/// The rotating issuer's keys change under this test: it is the only one that uses them.
#[tokio::test]
async fn a_rotated_key_is_fetched_again_and_a_key_rotated_out_is_refused() {
    let Some(url) = provider_url("oidc key rotation") else {
        return;
    };
    let app = oidc_app(&url).await;
    let first = sign_in_agent(&app, "rotating").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let rotated: Value = reqwest::Client::new()
        .post(format!("{url}/test/rotate"))
        .send()
        .await
        .expect("rotate")
        .json()
        .await
        .expect("rotation answer");
    assert_ne!(rotated["kid"], rotated["retired"]);
    // Signed with the new key, unknown to the cached key set: fetched again, accepted.
    let second = sign_in_agent(&app, "rotating").await;
    assert_eq!(second.status, 200, "{}", second.text);
    // Signed with the key the provider no longer publishes: refused.
    let sessions = app.count("sessions").await;
    let retired = sign_in_agent(&app, "retired").await;
    retired.assert_problem(401, "oidc_signature_invalid");
    assert_eq!(app.count("sessions").await, sessions);
}

#[tokio::test]
async fn an_unknown_or_unreachable_provider_is_a_clear_problem_and_writes_nothing() {
    let Some(_) = provider_url("oidc unreachable provider") else {
        return;
    };
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let dead = format!("http://{}/nowhere", closed.local_addr().expect("addr"));
    drop(closed);
    let app = spawn_app_with(&[
        ("REEMPLOI_PUBLIC_URL", PUBLIC_URL),
        ("REEMPLOI_OIDC_PROVIDERS", "keycloak"),
        ("REEMPLOI_OIDC_KEYCLOAK_ISSUER", &dead),
        ("REEMPLOI_OIDC_KEYCLOAK_CLIENT_ID", "reemploi"),
        ("REEMPLOI_OIDC_KEYCLOAK_CLIENT_SECRET", "s"),
        ("REEMPLOI_OIDC_HTTP_TIMEOUT_MS", "2000"),
    ])
    .await;
    let events = app.count("events").await;
    app.get("/v1/auth/oidc/keycloak/start", None)
        .await
        .assert_problem(503, "oidc_provider_unavailable");
    app.get("/v1/auth/oidc/proconnect/start", None)
        .await
        .assert_problem(404, "oidc_provider_unknown");
    app.get("/v1/auth/oidc/keycloak/callback?code=x&state=y", None)
        .await
        .assert_problem(401, "oidc_state_invalid");
    assert_eq!(app.count("events").await, events);
    assert_eq!(app.count("oidc_flows").await, 0);
}

#[tokio::test]
async fn an_organisation_requiring_oidc_is_not_acted_for_from_a_password_session() {
    let Some(url) = provider_url("oidc required") else {
        return;
    };
    let app = oidc_app(&url).await;
    let (town, password_token) = register_town(&app, AGENT_EMAIL, None).await;
    let policy = format!("/v1/organisations/{town}/oidc-policy");
    let read = app.get(&policy, Some(&password_token)).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["required"], false);
    // From a password session, requiring it would lock the admin out: refused.
    app.put(&policy, Some(&password_token), json!({ "required": true }))
        .await
        .assert_problem(403, "oidc_sign_in_required");
    let (agent_token, _) = app
        .add_member(
            &crate::helpers::Org {
                id: town.clone(),
                admin_email: AGENT_EMAIL.into(),
                admin_id: String::new(),
                token: password_token.clone(),
            },
            "agent",
        )
        .await;
    app.put(&policy, Some(&agent_token), json!({ "required": false }))
        .await
        .assert_problem(403, "forbidden");

    let signed = sign_in_agent(&app, "proconnect").await;
    assert_eq!(signed.status, 200, "{}", signed.text);
    let oidc_token = signed.body["token"].as_str().expect("token").to_owned();
    let set = app
        .put(&policy, Some(&oidc_token), json!({ "required": true }))
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.body["required"], true);

    // A password session no longer carries the membership; the OIDC one does.
    let me = app.get("/v1/me", Some(&password_token)).await;
    assert_eq!(me.body["memberships"], json!([]), "{}", me.text);
    app.get(&format!("/v1/organisations/{town}"), Some(&password_token))
        .await
        .assert_problem(404, "not_found");
    let me = app.get("/v1/me", Some(&oidc_token)).await;
    assert_eq!(me.body["memberships"][0]["organisation_id"], town);
    assert_eq!(
        app.get(&format!("/v1/organisations/{town}"), Some(&oidc_token))
            .await
            .status,
        200
    );
    // A password sign-in of a member of that organisation only is refused, with a clear code.
    let refused = app
        .post(
            "/v1/auth/login",
            None,
            json!({ "email": AGENT_EMAIL, "password": PASSWORD }),
        )
        .await;
    refused.assert_problem(403, "oidc_sign_in_required");
    // Lifting the requirement restores password sign-in.
    let lifted = app
        .put(&policy, Some(&oidc_token), json!({ "required": false }))
        .await;
    assert_eq!(lifted.status, 200, "{}", lifted.text);
    app.login(AGENT_EMAIL, PASSWORD).await;
    let events = app.count("events WHERE kind = 'oidc_policy_set'").await;
    assert_eq!(events, 2);
}
