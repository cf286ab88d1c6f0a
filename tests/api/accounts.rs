use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with, unique_email};

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

#[tokio::test]
async fn login_attempts_are_rate_limited_per_account_with_retry_after() {
    let app = spawn_app_with(&[("REEMPLOI_LOGIN_LIMIT_PER_ACCOUNT", "3")]).await;
    let town = app.register("public_body").await;
    for _ in 0..3 {
        app.post(
            "/v1/auth/login",
            None,
            json!({ "email": town.admin_email, "password": "mauvais mot de passe" }),
        )
        .await
        .assert_problem(401, "invalid_credentials");
    }
    let limited = app
        .post(
            "/v1/auth/login",
            None,
            json!({ "email": town.admin_email, "password": PASSWORD }),
        )
        .await;
    limited.assert_problem(429, "rate_limited");
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    // Another account is not affected.
    let other = app.register("association").await;
    app.login(&other.admin_email, PASSWORD).await;
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
    .assert_problem(400, "malformed_request");
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
    app.get(&members, Some(&town.token))
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
