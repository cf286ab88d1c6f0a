use serde_json::json;

use crate::helpers::{PASSWORD, Resp, TestApp, spawn_app, spawn_app_with, unique_email};

#[tokio::test]
async fn a_wrong_password_or_unknown_account_gets_401_invalid_credentials() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    app.post(
        "/v1/auth/login",
        None,
        json!({ "email": town.admin_email, "password": "mauvais mot de passe" }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    app.post(
        "/v1/auth/login",
        None,
        json!({ "email": "personne@exemple.fr", "password": PASSWORD }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    app.post(
        "/v1/auth/login",
        None,
        json!({ "email": "pas un email", "password": PASSWORD }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn logging_in_is_case_insensitive_on_the_email_and_logout_revokes_the_token() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let token = app.login(&town.admin_email.to_uppercase(), PASSWORD).await;
    assert_eq!(app.get("/v1/me", Some(&token)).await.status, 200);
    assert_eq!(
        app.post("/v1/auth/logout", Some(&token), json!({}))
            .await
            .status,
        204
    );
    app.get("/v1/me", Some(&token))
        .await
        .assert_problem(401, "unauthenticated");
    // The other session of the same user still works.
    assert_eq!(app.get("/v1/me", Some(&town.token)).await.status, 200);
    app.get("/v1/me", Some("rms_inconnu"))
        .await
        .assert_problem(401, "unauthenticated");
    app.get("/v1/me", Some("n'importe quoi"))
        .await
        .assert_problem(401, "unauthenticated");
}

/// A client whose connections come from `address` (any of 127.0.0.0/8 on Linux).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().ok())
        .build()
        .expect("client")
}

async fn login_from(app: &TestApp, client: &reqwest::Client, email: &str, password: &str) -> Resp {
    let r = client
        .post(app.url("/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login sent");
    Resp::read(r).await
}

#[tokio::test]
async fn ten_wrong_passwords_from_one_address_do_not_stop_the_right_password_from_another() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let stranger = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let r = login_from(&app, &stranger, &town.admin_email, "mauvais mot de passe").await;
        if r.status == 429 {
            r.assert_problem(429, "rate_limited");
            let wait: u64 = r
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .expect("seconds");
            assert!(wait >= 1);
        } else {
            r.assert_problem(401, "invalid_credentials");
        }
        statuses.push(r.status);
    }
    // Five free failures, then that address waits (it is the one that failed).
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // Even the right password waits from that address…
    login_from(&app, &stranger, &town.admin_email, PASSWORD)
        .await
        .assert_problem(429, "rate_limited");
    // …but the owner, from another address, signs in at once.
    let owner = client_from("127.0.0.1");
    let r = login_from(&app, &owner, &town.admin_email, PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn the_delay_after_failures_grows_and_a_success_forgets_it() {
    let app = spawn_app_with(&[("REEMPLOI_LOGIN_FREE_FAILURES", "1")]).await;
    let town = app.register("public_body").await;
    let client = client_from("127.0.0.3");
    login_from(&app, &client, &town.admin_email, "mauvais mot de passe")
        .await
        .assert_problem(401, "invalid_credentials");
    let first = login_from(&app, &client, &town.admin_email, PASSWORD).await;
    first.assert_problem(429, "rate_limited");
    assert_eq!(first.header("retry-after").as_deref(), Some("1"));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    login_from(&app, &client, &town.admin_email, "mauvais mot de passe")
        .await
        .assert_problem(401, "invalid_credentials");
    let second = login_from(&app, &client, &town.admin_email, PASSWORD).await;
    second.assert_problem(429, "rate_limited");
    assert_eq!(
        second.header("retry-after").as_deref(),
        Some("2"),
        "doubled"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        login_from(&app, &client, &town.admin_email, PASSWORD)
            .await
            .status,
        200
    );
    // Forgotten: the next failure is free again.
    login_from(&app, &client, &town.admin_email, "mauvais mot de passe")
        .await
        .assert_problem(401, "invalid_credentials");
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_client_address() {
    let app = spawn_app_with(&[("REEMPLOI_LOGIN_LIMIT_PER_IP", "4")]).await;
    for i in 0..4 {
        app.post(
            "/v1/auth/login",
            None,
            json!({ "email": format!("x{i}@exemple.fr"), "password": "x" }),
        )
        .await
        .assert_problem(401, "invalid_credentials");
    }
    app.post(
        "/v1/auth/login",
        None,
        json!({ "email": "y@exemple.fr", "password": "x" }),
    )
    .await
    .assert_problem(429, "rate_limited");
}

#[tokio::test]
async fn an_admin_invites_an_agent_who_sets_a_password_with_the_mailed_token() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let email = unique_email("karim");
    let r = app
        .post(
            &format!("/v1/organisations/{}/invitations", town.id),
            Some(&town.token),
            json!({ "email": email, "role": "agent" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.body.get("token").is_none(), "the token is only mailed");
    let token = app.invitation_token(&email).await;
    // `Location` reads the invitation, without its token, for the organisation's admins.
    let location = r.header("location").expect("location");
    let one = app.get(&location, Some(&town.token)).await;
    assert_eq!(one.body["email"], email.as_str(), "{}", one.text);
    assert!(!one.text.contains(&token));
    let stranger = app.register("public_body").await;
    app.get(&location, Some(&stranger.token))
        .await
        .assert_problem(404, "not_found");
    let mail = app
        .mailer
        .sent()
        .into_iter()
        .find(|m| m.to == email)
        .expect("mail");
    assert!(mail.subject.contains("Invitation"), "{}", mail.subject);
    assert!(mail.body.contains("Ville de Saint-Ouen-sur-Loire"));

    app.post(
        "/v1/invitations/accept",
        None,
        json!({ "token": token, "display_name": "Karim", "password": "court" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let accepted = app
        .post(
            "/v1/invitations/accept",
            None,
            json!({ "token": token, "display_name": "Karim", "password": PASSWORD }),
        )
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.text);
    assert_eq!(accepted.body["user"]["memberships"][0]["role"], "agent");
    app.post(
        "/v1/invitations/accept",
        None,
        json!({ "token": token, "display_name": "Karim", "password": PASSWORD }),
    )
    .await
    .assert_problem(422, "invitation_invalid");
    let members = app
        .get(
            &format!("/v1/organisations/{}/members", town.id),
            Some(&town.token),
        )
        .await;
    assert_eq!(members.body["items"].as_array().map(Vec::len), Some(2));
    app.login(&email, PASSWORD).await;
}

#[tokio::test]
async fn an_existing_account_joins_another_organisation_with_its_own_password() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let asso = app.register("association").await;
    let path = format!("/v1/organisations/{}/invitations", town.id);
    app.post(
        &path,
        Some(&town.token),
        json!({ "email": asso.admin_email, "role": "agent" }),
    )
    .await;
    let token = app.invitation_token(&asso.admin_email).await;
    app.post(
        "/v1/invitations/accept",
        None,
        json!({ "token": token, "display_name": "x", "password": "pas le bon mot de passe" }),
    )
    .await
    .assert_problem(401, "invalid_credentials");
    let r = app
        .post(
            "/v1/invitations/accept",
            None,
            json!({ "token": token, "display_name": "x", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["user"]["memberships"].as_array().map(Vec::len),
        Some(2)
    );
    // Inviting a member again is a conflict.
    app.post(
        &path,
        Some(&town.token),
        json!({ "email": asso.admin_email, "role": "agent" }),
    )
    .await
    .assert_problem(409, "already_member");
}

#[tokio::test]
async fn a_revoked_invitation_no_longer_works_and_agents_cannot_invite() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let email = unique_email("x");
    let path = format!("/v1/organisations/{}/invitations", town.id);
    let inv = app
        .post(
            &path,
            Some(&town.token),
            json!({ "email": email, "role": "admin" }),
        )
        .await;
    let token = app.invitation_token(&email).await;
    let inv_id = inv.body["id"].as_str().expect("id");
    assert_eq!(
        app.delete(&format!("{path}/{inv_id}"), Some(&town.token))
            .await
            .status,
        204
    );
    app.post(
        "/v1/invitations/accept",
        None,
        json!({ "token": token, "display_name": "x", "password": PASSWORD }),
    )
    .await
    .assert_problem(422, "invitation_invalid");
    let list = app.get(&path, Some(&town.token)).await;
    assert!(list.body["items"][0]["revoked_at"].is_string());

    let (agent, _) = app.add_member(&town, "agent").await;
    app.post(
        &path,
        Some(&agent),
        json!({ "email": unique_email("y"), "role": "agent" }),
    )
    .await
    .assert_problem(403, "forbidden");
    app.get(&path, Some(&agent))
        .await
        .assert_problem(403, "forbidden");
    app.post(
        &path,
        Some(&town.token),
        json!({ "email": "pas-un-email", "role": "agent" }),
    )
    .await
    .assert_problem(422, "validation_failed");
    app.post(
        &path,
        Some(&town.token),
        json!({ "email": unique_email("z"), "role": "chef" }),
    )
    .await
    .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn the_last_admin_can_be_neither_demoted_nor_removed() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let members = format!("/v1/organisations/{}/members", town.id);
    app.put(
        &format!("{members}/{}", town.admin_id),
        Some(&town.token),
        json!({ "role": "agent" }),
    )
    .await
    .assert_problem(422, "last_admin");
    app.delete(&format!("{members}/{}", town.admin_id), Some(&town.token))
        .await
        .assert_problem(422, "last_admin");

    let (agent_token, agent_id) = app.add_member(&town, "agent").await;
    app.put(
        &format!("{members}/{}", town.admin_id),
        Some(&agent_token),
        json!({ "role": "agent" }),
    )
    .await
    .assert_problem(403, "forbidden");
    let promoted = app
        .put(
            &format!("{members}/{agent_id}"),
            Some(&town.token),
            json!({ "role": "admin" }),
        )
        .await;
    assert_eq!(promoted.body["role"], "admin");
    let demoted = app
        .put(
            &format!("{members}/{}", town.admin_id),
            Some(&town.token),
            json!({ "role": "agent" }),
        )
        .await;
    assert_eq!(demoted.status, 200, "{}", demoted.text);
    // The removed member loses access at once.
    assert_eq!(
        app.delete(&format!("{members}/{}", town.admin_id), Some(&agent_token))
            .await
            .status,
        204
    );
    // Their sessions are signed out with the membership.
    app.get(&members, Some(&town.token))
        .await
        .assert_problem(401, "unauthenticated");
    let again = app.login(&town.admin_email, PASSWORD).await;
    app.get(&members, Some(&again))
        .await
        .assert_problem(404, "not_found");
}

#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let (second, second_id) = app.add_member(&town, "admin").await;
    let members = format!("/v1/organisations/{}/members", town.id);
    let (path_a, path_b) = (
        format!("{members}/{second_id}"),
        format!("{members}/{}", town.admin_id),
    );
    let a = app.put(&path_a, Some(&town.token), json!({ "role": "agent" }));
    let b = app.put(&path_b, Some(&second), json!({ "role": "agent" }));
    let (a, b) = tokio::join!(a, b);
    let statuses = [a.status, b.status];
    assert!(statuses.contains(&200), "{statuses:?}");
    let list = app.get(&members, Some(&town.token)).await;
    let list = if list.status == 200 {
        list
    } else {
        app.get(&members, Some(&second)).await
    };
    let admins = list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|m| m["role"] == "admin")
        .count();
    assert_eq!(admins, 1, "{}", list.text);
}

async fn patch_me(app: &TestApp, token: &str, body: serde_json::Value) -> Resp {
    app.send(
        reqwest::Method::PATCH,
        "/v1/me",
        Some(token),
        Some(body),
        &[],
    )
    .await
}

/// The token of the last mail to `to` whose link goes to `path`.
async fn mailed_token(app: &TestApp, to: &str, path: &str) -> String {
    for _ in 0..200 {
        if let Some(mail) = app
            .mailer
            .sent()
            .into_iter()
            .rev()
            .find(|m| m.to == to && m.body.contains(path))
        {
            let start = mail.body.find(path).expect("link") + path.len() + 1;
            return mail.body[start..]
                .split(|c: char| c.is_whitespace() || c == '?')
                .next()
                .expect("token")
                .to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no mail to {to} with a link to {path}");
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_signs_out_the_other_sessions() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let other = app.login(&town.admin_email, PASSWORD).await;
    let new = "une autre phrase de passe";
    let r = app
        .post(
            "/v1/me/password",
            Some(&town.token),
            json!({ "current_password": "pas le bon du tout", "new_password": new }),
        )
        .await;
    r.assert_problem(422, "wrong_password");
    assert_eq!(r.body["title"], "Le mot de passe actuel est incorrect");
    let r = app
        .post(
            "/v1/me/password",
            Some(&town.token),
            json!({ "current_password": PASSWORD, "new_password": "court" }),
        )
        .await;
    r.assert_problem(422, "validation_failed");
    assert_eq!(r.problem_fields(), vec!["new_password".to_owned()]);
    app.post(
        "/v1/me/password",
        Some(&town.token),
        json!({ "current_password": PASSWORD }),
    )
    .await
    .assert_problem(422, "validation_failed");
    let before = app.count("events").await;
    let r = app
        .post(
            "/v1/me/password",
            Some(&town.token),
            json!({ "current_password": PASSWORD, "new_password": new }),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.count("events WHERE kind = 'password_changed'").await, 1);
    assert!(app.count("events").await > before);
    assert_eq!(
        app.get("/v1/me", Some(&town.token)).await.status,
        200,
        "this session stays"
    );
    app.get("/v1/me", Some(&other))
        .await
        .assert_problem(401, "unauthenticated");
    app.login(&town.admin_email, new).await;
}

#[tokio::test]
async fn api_keys_and_anonymous_callers_are_refused_the_personal_endpoints() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let key = app
        .post(
            &format!("/v1/organisations/{}/api-keys", town.id),
            Some(&town.token),
            json!({ "name": "GLPI" }),
        )
        .await;
    let key = key.body["key"].as_str().expect("key").to_owned();
    let calls: Vec<(reqwest::Method, &str, serde_json::Value)> = vec![
        (
            reqwest::Method::POST,
            "/v1/me/password",
            json!({ "current_password": PASSWORD, "new_password": "une autre phrase de passe" }),
        ),
        (
            reqwest::Method::POST,
            "/v1/me/email-verification",
            json!({}),
        ),
        (
            reqwest::Method::POST,
            "/v1/auth/logout-everywhere",
            json!({}),
        ),
        (
            reqwest::Method::PATCH,
            "/v1/me",
            json!({ "language": "en" }),
        ),
    ];
    for (method, path, body) in calls {
        app.send(method.clone(), path, Some(&key), Some(body.clone()), &[])
            .await
            .assert_problem(403, "forbidden");
        app.send(method, path, None, Some(body), &[])
            .await
            .assert_problem(401, "unauthenticated");
    }
}

#[tokio::test]
async fn signing_out_everywhere_revokes_every_session_of_the_user_only() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let phone = app.login(&town.admin_email, PASSWORD).await;
    let asso = app.register("association").await;
    let r = app
        .post("/v1/auth/logout-everywhere", Some(&phone), json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    for t in [&phone, &town.token] {
        app.get("/v1/me", Some(t))
            .await
            .assert_problem(401, "unauthenticated");
    }
    assert_eq!(app.get("/v1/me", Some(&asso.token)).await.status, 200);
    assert_eq!(app.count("events WHERE kind = 'sessions_revoked'").await, 1);
}

#[tokio::test]
async fn removing_a_member_revokes_their_sessions_and_their_api_keys_at_once() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let (colleague, colleague_id) = app.add_member(&town, "admin").await;
    let base = format!("/v1/organisations/{}/api-keys", town.id);
    let theirs = app
        .post(
            &base,
            Some(&colleague),
            json!({ "name": "Script de Karim" }),
        )
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    let their_key = theirs.body["key"].as_str().expect("key").to_owned();
    let ours = app
        .post(
            &base,
            Some(&town.token),
            json!({ "name": "GLPI de la mairie" }),
        )
        .await;
    let our_key = ours.body["key"].as_str().expect("key").to_owned();
    assert_eq!(app.get("/v1/me", Some(&their_key)).await.status, 200);
    let r = app
        .delete(
            &format!("/v1/organisations/{}/members/{colleague_id}", town.id),
            Some(&town.token),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    app.get("/v1/me", Some(&colleague))
        .await
        .assert_problem(401, "unauthenticated");
    app.get("/v1/me", Some(&their_key))
        .await
        .assert_problem(401, "unauthenticated");
    assert_eq!(
        app.get("/v1/me", Some(&our_key)).await.status,
        200,
        "others' keys stay"
    );
    assert_eq!(app.get("/v1/me", Some(&town.token)).await.status, 200);
}

#[tokio::test]
async fn the_registration_mails_a_link_that_verifies_the_address_once() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let me = app.get("/v1/me", Some(&town.token)).await;
    assert_eq!(me.body["email_verified"], false);
    assert_eq!(me.body["language"], "fr");
    let token = mailed_token(&app, &town.admin_email, "/compte/adresse").await;
    assert!(token.starts_with("rmv_"), "{token}");
    let r = app
        .post("/v1/auth/verify-email", None, json!({ "token": token }))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.get("/v1/me", Some(&town.token)).await.body["email_verified"],
        true
    );
    let again = app
        .post("/v1/auth/verify-email", None, json!({ "token": token }))
        .await;
    again.assert_problem(422, "token_invalid");
    assert_eq!(again.body["title"], "Lien invalide, expiré ou déjà utilisé");
    app.post("/v1/me/email-verification", Some(&town.token), json!({}))
        .await
        .assert_problem(409, "email_already_verified");
    app.post("/v1/auth/verify-email", None, json!({ "token": 42 }))
        .await
        .assert_problem(422, "validation_failed");
}

#[tokio::test]
async fn an_unverified_address_can_ask_for_a_new_link() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let r = app
        .post("/v1/me/email-verification", Some(&town.token), json!({}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    // The mail leaves through the outbox: wait for the worker (at most 5 s).
    let mut n = 0;
    for _ in 0..200 {
        n = app
            .mailer
            .sent()
            .into_iter()
            .filter(|m| m.to == town.admin_email && m.body.contains("/compte/adresse/"))
            .count();
        if n >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(n >= 1, "no verification mail to {}", town.admin_email);
}

#[tokio::test]
async fn a_reset_token_works_within_the_hour_only_and_refuses_weak_passwords() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let r = app
        .post(
            "/v1/auth/password-reset",
            None,
            json!({ "email": town.admin_email }),
        )
        .await;
    assert_eq!(r.status, 202);
    app.post(
        "/v1/auth/password-reset",
        None,
        json!({ "email": "pas une adresse" }),
    )
    .await;
    let token = mailed_token(&app, &town.admin_email, "/compte/mot-de-passe").await;
    assert!(token.starts_with("rmr_"));
    let weak = app
        .post(
            "/v1/auth/password-reset/confirm",
            None,
            json!({ "token": token, "password": "court" }),
        )
        .await;
    weak.assert_problem(422, "validation_failed");
    assert_eq!(weak.problem_fields(), vec!["password".to_owned()]);
    app.post(
        "/v1/auth/password-reset/confirm",
        None,
        json!({ "token": "rmr_inconnu", "password": "une autre phrase de passe" }),
    )
    .await
    .assert_problem(422, "token_invalid");
    // An hour later, the link no longer works.
    use sea_orm::ConnectionTrait;
    app.db
        .execute_unprepared(
            "UPDATE account_tokens SET expires_at = '2020-01-01 00:00:00+00:00' WHERE purpose = 'password_reset'",
        )
        .await
        .expect("expire");
    app.post(
        "/v1/auth/password-reset/confirm",
        None,
        json!({ "token": token, "password": "une autre phrase de passe" }),
    )
    .await
    .assert_problem(422, "token_invalid");
    app.login(&town.admin_email, PASSWORD).await;
}

#[tokio::test]
async fn the_profile_sets_the_name_and_language_and_refuses_bad_input_in_french() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let r = patch_me(
        &app,
        &town.token,
        json!({ "display_name": "  Claire M.  ", "language": "en" }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["display_name"], "Claire M.");
    assert_eq!(r.body["language"], "en");
    assert_eq!(app.count("events WHERE kind = 'profile_updated'").await, 1);
    let bad = patch_me(&app, &town.token, json!({ "language": "de" })).await;
    bad.assert_problem(422, "validation_failed");
    assert_eq!(bad.body["title"], "Certains champs sont invalides");
    let empty = patch_me(&app, &town.token, json!({ "display_name": "   " })).await;
    empty.assert_problem(422, "validation_failed");
    assert_eq!(empty.problem_fields(), vec!["display_name".to_owned()]);
    assert_eq!(
        app.count("events WHERE kind = 'profile_updated'").await,
        1,
        "nothing written"
    );
}

#[tokio::test]
async fn registering_with_an_existing_address_answers_alike_and_mails_its_owner() {
    let app = spawn_app().await;
    let town = app.register("public_body").await;
    let orgs = app.count("organisations").await;
    // Someone else, with another password: the same answer as a success, nothing created.
    let mut body = crate::helpers::registration("association", &town.admin_email);
    body["admin"]["password"] = json!("une tout autre phrase de passe");
    let r = app.post("/v1/organisations", None, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["organisation"]["status"], "pending");
    assert!(r.header("location").is_some());
    assert_eq!(
        app.count("organisations").await,
        orgs,
        "nothing was created"
    );
    assert_eq!(app.count("users").await, 1);
    let mail = loop {
        if let Some(m) = app
            .mailer
            .sent()
            .into_iter()
            .find(|m| m.to == town.admin_email && m.kind == "registration_attempt")
        {
            break m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    assert!(
        mail.body.contains("Les Petits Débrouillards du Blésois"),
        "{}",
        mail.body
    );
    assert!(
        mail.body.contains("/compte/mot-de-passe-oublie"),
        "{}",
        mail.body
    );
    // The owner, with their own password: a second organisation under the same account.
    let body = crate::helpers::registration("association", &town.admin_email);
    let r = app.post("/v1/organisations", None, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["admin_user_id"], town.admin_id.as_str());
    let me = app.get("/v1/me", Some(&town.token)).await;
    assert_eq!(me.body["memberships"].as_array().map(Vec::len), Some(2));
}
